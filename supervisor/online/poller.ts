// Asks the API for the target: at the interval the target itself sets, with jitter so a fleet spreads its requests,
// and with a capped exponential backoff while the API fails. Each new target goes to `onTarget`.
import { DEFAULT_DEVICE_CONFIG } from '../../protocol/target-state.js';
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import type { ApiClient } from './api-client.js';
import { backoffDelay, withJitter } from '../../lib/backoff.js';
import type { SignedTarget } from '../target/gate.js';
import { PassLoop } from '../device/wakeup.js';

export interface PollerOptions {
  api: ApiClient;
  uuid: string;
  log: Logger;
  onTarget: (signed: SignedTarget) => Promise<void>;
  /** Called after every poll with what went wrong, or null when it succeeded. */
  onOutcome?: (error: unknown) => void;
  /** Replaces the target's interval (demos, tests). */
  intervalOverrideMs?: number;
  /** The interval before any target is known. */
  initialIntervalSeconds?: number;
  jitterFraction?: number;
}

const MAX_BACKOFF_MS = 300_000;

export class Poller {
  private readonly passes = new PassLoop(() => this.pollOnce());
  private etag: string | null = null;
  private intervalSeconds: number;
  private failures = 0;

  constructor(private readonly options: PollerOptions) {
    this.intervalSeconds = options.initialIntervalSeconds ?? DEFAULT_DEVICE_CONFIG.pollIntervalSeconds;
  }

  start(): void {
    this.passes.start();
  }

  stop(): Promise<void> {
    return this.passes.stop();
  }

  /** The ETag of the last target handed over; null before the first. */
  knownEtag(): string | null {
    return this.etag;
  }

  /** Polls now instead of at the next interval (e.g. an "update now" nudge). */
  pollNow(): void {
    this.passes.wake();
  }

  private intervalMs(): number {
    return this.options.intervalOverrideMs ?? this.intervalSeconds * 1000;
  }

  /** One request; returns the delay before the next. */
  async pollOnce(): Promise<number> {
    const { api, uuid, log } = this.options;
    try {
      const answer = await api.fetchTarget(uuid, this.etag);
      if (answer.changed) {
        await this.options.onTarget({ target: answer.target, signature: answer.signature });
        // Only a target that was handed over is remembered; a refused one is asked for again.
        this.etag = answer.etag;
        this.intervalSeconds = answer.target.config.pollIntervalSeconds;
      }
      this.failures = 0;
      this.options.onOutcome?.(null);
      return withJitter(this.intervalMs(), this.options.jitterFraction ?? 0.1);
    } catch (err) {
      this.failures++;
      // Start retrying no later than the normal interval; never wait more than 16 intervals or 5 minutes.
      const interval = this.intervalMs();
      const delay = backoffDelay(this.failures, {
        initialMs: Math.min(interval, 5_000),
        maxMs: Math.max(interval, Math.min(MAX_BACKOFF_MS, interval * 16)),
      });
      log.warn({ err: messageOf(err), attempt: this.failures, retryInMs: delay }, 'target poll failed');
      this.options.onOutcome?.(err);
      return withJitter(delay, this.options.jitterFraction ?? 0.1);
    }
  }
}

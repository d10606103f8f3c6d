// Asks the API for the target: at the interval the target itself sets, with jitter so a fleet spreads its requests,
// and with a capped exponential backoff while the API fails. Each new target goes to `onTarget`.
//
// While the push channel is open the API tells the device of every change within a second, so polling on the
// interval would only spend the device's data: the poller then asks once when the channel opens (what changed
// while it was away) and after that only as a safety net (30 hours; the channel's daily renewal polls sooner). The channel closing brings a poll at once
// and the interval back.
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
/**
 * The safety-net poll while the push channel is open. The API renews each channel after a day, and the device
 * polls then anyway; past that day (with 10% jitter either way) so it adds no poll of its own to a channel that
 * renews on time, and only catches one that stays open but stopped carrying events.
 */
export const PUSH_OPEN_POLL_MS = 30 * 60 * 60 * 1000;

export class Poller {
  private readonly passes = new PassLoop(() => this.pollOnce());
  private etag: string | null = null;
  private intervalSeconds: number;
  private failures = 0;
  private pushOpen = false;
  /** A poll was asked for (pollNow), so the next pass polls even while the channel is open. */
  private asked = true;
  private lastPollAt = Number.NEGATIVE_INFINITY;

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
    this.asked = true;
    this.passes.wake();
  }

  /** The push channel opened or closed: either way the poller asks now, then rests or resumes its interval. */
  setPushOpen(open: boolean): void {
    if (open === this.pushOpen) return;
    this.pushOpen = open;
    this.pollNow();
  }

  private intervalMs(): number {
    return this.options.intervalOverrideMs ?? this.intervalSeconds * 1000;
  }

  /** One request (none while the channel is open and the safety net is not due); returns the delay before the next. */
  async pollOnce(): Promise<number> {
    const { api, uuid, log } = this.options;
    if (this.pushOpen && !this.asked && this.failures === 0) {
      const due = this.lastPollAt + PUSH_OPEN_POLL_MS - Date.now();
      if (due > 0) return due;
    }
    this.asked = false;
    this.lastPollAt = Date.now();
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
      const interval = this.pushOpen ? PUSH_OPEN_POLL_MS : this.intervalMs();
      return withJitter(interval, this.options.jitterFraction ?? 0.1);
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

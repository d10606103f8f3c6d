// The device's end of the push channel (protocol/device-events.ts): keeps GET .../events open and, when the API
// says the target's ETag is not the one the device holds, has the poller fetch it now. The target itself still
// comes signed through the poll. While the channel is open the poller rests (onConnected tells it), so the
// channel is the device's only traffic when nothing happens; a dropped or silent connection is reopened with
// backoff, and the poller takes over at once meanwhile.
import {
  ACTION_EVENT,
  DEFAULT_HEARTBEAT_SECONDS,
  TARGET_EVENT,
  TargetEventSchema,
  pushTimings,
  type PushTimings,
} from '../../protocol/device-events.js';
import { LOGS_EVENT } from '../../protocol/device-logs.js';
import { parse } from '../../protocol/validate.js';
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import type { ApiClient } from './api-client.js';
import { backoffDelay, withJitter } from '../../lib/backoff.js';
import { SseLimitError, SseParser } from '../../lib/sse.js';
import { PassLoop } from '../device/wakeup.js';

/**
 * Most characters one event on the channel may take: a target event is an ETag, a logs request a few hundred
 * characters. Anything longer is not the API speaking as it should; the connection is dropped and reopened.
 */
export const MAX_PUSH_EVENT_CHARS = 64 * 1024;

export interface TargetEventsOptions {
  api: Pick<ApiClient, 'openEvents'>;
  uuid: string;
  log: Logger;
  /** The ETag of the target the device holds (null: none yet). */
  knownEtag: () => string | null;
  /** The API's target differs from the one the device holds. */
  onStale: (etag: string) => void;
  /** The `data` of a `logs` event (protocol/device-logs.ts): someone asks for this device's logs. */
  onLogs?: (data: string) => void;
  /** An `action` event (protocol/device-actions.ts): an action waits; the device fetches it over its own route. */
  onAction?: () => void;
  /**
   * The channel opened (true) or closed (false); `endedByApi` when the API ended the stream itself (its daily
   * renewal, or a restart) rather than the connection failing.
   */
  onConnected?: (connected: boolean, endedByApi: boolean) => void;
  /** The timings derived from the heartbeat the API announced, each time a channel opens. */
  onTimings?: (timings: PushTimings) => void;
  /**
   * Silence longer than this means a dead connection (a NAT that dropped it without a word); by default derived
   * from the announced heartbeat (pushTimings).
   */
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  retry?: { initialMs: number; maxMs: number };
}

export class TargetEvents {
  private readonly passes = new PassLoop(() => this.connectOnce());
  private current: AbortController | undefined;
  private failures = 0;
  private connected = false;

  constructor(private readonly options: TargetEventsOptions) {}

  /** Whether the channel is open right now. */
  isConnected(): boolean {
    return this.connected;
  }

  start(): void {
    this.passes.start();
  }

  async stop(): Promise<void> {
    const stopped = this.passes.stop();
    this.current?.abort(new Error('supervisor stopping'));
    await stopped;
  }

  /** One connection, held until it ends; returns how long to wait before the next. */
  private async connectOnce(): Promise<number> {
    const retry = this.options.retry ?? { initialMs: 1_000, maxMs: 300_000 };
    const started = Date.now();
    let reason: string;
    let endedByApi = false;
    try {
      await this.listen();
      reason = 'the API ended the stream';
      endedByApi = true;
    } catch (err) {
      reason = messageOf(err);
      if (err instanceof SseLimitError) this.options.log.warn({ reason }, 'push channel: over-long event, dropped');
    }
    if (this.connected) {
      this.connected = false;
      this.options.onConnected?.(false, endedByApi);
    }
    if (this.passes.stopped) return 0;
    // A connection that held for a while was fine: the next one starts the backoff afresh.
    if (Date.now() - started > 60_000) this.failures = 0;
    this.failures++;
    const delay = withJitter(backoffDelay(this.failures, retry), 0.2);
    this.options.log.info({ reason, attempt: this.failures, retryInMs: delay }, 'push channel closed; polling instead');
    return delay;
  }

  private async listen(): Promise<void> {
    const { api, uuid, log } = this.options;
    let idleTimeoutMs = this.options.idleTimeoutMs ?? pushTimings(DEFAULT_HEARTBEAT_SECONDS).deviceSilenceMs;
    const controller = new AbortController();
    this.current = controller;
    const silence = (): NodeJS.Timeout =>
      setTimeout(() => controller.abort(new Error(`no byte from the API for ${idleTimeoutMs} ms`)), idleTimeoutMs);
    const connectTimer = setTimeout(
      () => controller.abort(new Error('the API did not answer the events request in time')),
      this.options.connectTimeoutMs ?? 30_000,
    );
    let idle: NodeJS.Timeout | undefined;
    try {
      const { body, heartbeatSeconds } = await api.openEvents(uuid, controller.signal);
      clearTimeout(connectTimer);
      const timings = pushTimings(heartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS);
      idleTimeoutMs = this.options.idleTimeoutMs ?? timings.deviceSilenceMs;
      this.options.onTimings?.(timings);
      this.connected = true;
      this.options.onConnected?.(true, false);
      log.info({ heartbeatSeconds, silenceLimitMs: idleTimeoutMs }, 'push channel open');
      const parser = new SseParser({ maxEventChars: MAX_PUSH_EVENT_CHARS });
      const decoder = new TextDecoder();
      idle = silence();
      for await (const chunk of body) {
        clearTimeout(idle);
        idle = silence();
        for (const event of parser.push(decoder.decode(chunk, { stream: true }))) {
          if (event.event === LOGS_EVENT) {
            this.options.onLogs?.(event.data);
            continue;
          }
          if (event.event === ACTION_EVENT) {
            // The event's id is not trusted for anything: the fetch says what waits.
            this.options.onAction?.();
            continue;
          }
          if (event.event !== TARGET_EVENT) continue;
          const { etag } = parse(TargetEventSchema, JSON.parse(event.data), 'target event from the API');
          if (etag !== this.options.knownEtag()) {
            log.info({ etag }, 'pushed: target changed');
            this.options.onStale(etag);
          }
          // Only an event that arrived proves the channel works end to end.
          this.failures = 0;
        }
      }
    } catch (err) {
      // The abort reason (silence, shutdown) says more than fetch's generic AbortError.
      if (controller.signal.aborted) throw controller.signal.reason instanceof Error ? controller.signal.reason : err;
      throw err;
    } finally {
      clearTimeout(connectTimer);
      clearTimeout(idle);
      controller.abort();
    }
  }
}

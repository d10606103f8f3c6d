// One Redis pub/sub channel shared by every API instance of a deployment: the connection logic the invalidation bus
// (fleet/invalidation.ts) and the fleet-log relay (logs/relay.ts) both stand on.
// Redis can fail by hanging, not only by refusing: a paused or swapped-out server keeps its sockets open and never
// answers, and a client without timeouts then waits forever (a revoke once hung 319 s behind one PUBLISH). So:
// - every command gives up after REDIS_COMMAND_TIMEOUT_MS (ioredis `commandTimeout`): a change is answered anyway;
// - the subscriber is pinged every REDIS_HEARTBEAT_MS; a channel that heard nothing from Redis for
//   REDIS_STALE_AFTER_MS is not `current`: messages may be waiting unread on the other side, so whoever trusts
//   what it kept because "the bus would have told me" must stop trusting it (the invalidation bus's fail-closed rule);
// - when it hears Redis again (a reconnect, or a ping answered after a silence) it calls `onResync`: whatever was
//   published meanwhile may never arrive.
import { Redis } from 'ioredis';
import type { Logger } from '../lib/logger.js';

/** How long one Redis command may take before it fails; a healthy Redis answers in well under a millisecond. */
export const REDIS_COMMAND_TIMEOUT_MS = 1_000;
/** How often the subscriber checks Redis still answers. */
export const REDIS_HEARTBEAT_MS = 250;
/**
 * Silence after which the channel is no longer current: a few missed heartbeats, not one slow answer, and shorter
 * than the command timeout, so that by the time a PUBLISH to a hung Redis gives up (and the change is answered),
 * every other instance already distrusts what it kept.
 */
export const REDIS_STALE_AFTER_MS = 750;

export interface RedisChannelOptions {
  redisUrl: string;
  channel: string;
  logger: Logger;
  /** Names the channel's user in logs ('invalidation bus', 'device log relay'). */
  role: string;
  commandTimeoutMs?: number;
  heartbeatMs?: number;
  staleAfterMs?: number;
}

export interface RedisChannel {
  /** Publishes `text`; resolves how many subscribers received it, rejects after the command timeout. */
  publish(text: string): Promise<number>;
  /** Whether Redis answered this channel's subscriber within the stale bound (messages are not piling up unread). */
  current(): boolean;
  close(): Promise<void>;
}

export interface RedisChannelHandlers {
  /** A message on the channel (any instance's, this one's included), unvalidated. */
  onMessage(text: string): void;
  /** The subscriber hears Redis again after a reconnect or a silence: messages may have been missed. */
  onResync(): void;
}

/** Connects, subscribes, and resolves once the channel is live. */
export async function openRedisChannel(
  options: RedisChannelOptions,
  handlers: RedisChannelHandlers,
): Promise<RedisChannel> {
  const { channel, logger, role } = options;
  const commandTimeout = options.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS;
  const heartbeatMs = options.heartbeatMs ?? REDIS_HEARTBEAT_MS;
  const staleAfterMs = options.staleAfterMs ?? REDIS_STALE_AFTER_MS;
  const settings = { lazyConnect: true, commandTimeout, maxRetriesPerRequest: 1, connectTimeout: 5_000 };
  const publisher = new Redis(options.redisUrl, settings);
  const subscriber = new Redis(options.redisUrl, settings);
  for (const [name, client] of [
    ['publisher', publisher],
    ['subscriber', subscriber],
  ] as const) {
    client.on('error', (err: unknown) =>
      logger.warn({ err, channel, client: name }, `${role}: Redis connection error`),
    );
  }
  // A monotonic clock: a wall clock stepped by NTP must not make a silent Redis look current.
  const nowMs = (): number => performance.now();
  let heardAtMs = nowMs();
  let stale = false;
  const heard = (): void => {
    heardAtMs = nowMs();
    if (!stale) return;
    stale = false;
    logger.warn({ channel }, `${role}: Redis answers again; whatever was published meanwhile may be lost`);
    handlers.onResync();
  };
  const current = (): boolean => subscriber.status === 'ready' && nowMs() - heardAtMs < staleAfterMs;

  subscriber.on('message', (from: string, text: string) => {
    if (from !== channel) return;
    heard();
    handlers.onMessage(text);
  });
  await Promise.all([publisher.connect(), subscriber.connect()]);
  await subscriber.subscribe(channel);
  heardAtMs = nowMs();
  // ioredis resubscribes on its own after a reconnect; whatever was published meanwhile never arrives.
  subscriber.on('ready', () => {
    logger.warn({ channel }, `${role}: reconnected to Redis; messages published meanwhile are lost`);
    heardAtMs = nowMs();
    stale = false;
    handlers.onResync();
  });
  let pinging = false;
  const heartbeat = setInterval(() => {
    if (!stale && !current()) {
      stale = true;
      logger.warn(
        { channel, silentMs: Math.round(nowMs() - heardAtMs), staleAfterMs },
        `${role}: Redis does not answer; the channel is not current`,
      );
    }
    // One ping at a time: against a hung Redis they would pile up until each times out.
    if (pinging || subscriber.status !== 'ready') return;
    pinging = true;
    subscriber
      .ping()
      .then(heard, () => undefined)
      .finally(() => {
        pinging = false;
      });
  }, heartbeatMs);
  heartbeat.unref();

  return {
    publish: (text) => publisher.publish(channel, text),
    current,
    async close() {
      clearInterval(heartbeat);
      subscriber.disconnect();
      await publisher.quit().catch(() => undefined);
    },
  };
}

// How fleet logs cross API instances. Behind a load balancer the person asking, the device's push channel and the
// device's POSTs may each reach a different instance: a `logs` event must reach the instance that holds the
// device's channel, and every batch the instance that waits for it. Alone, an instance does both itself; with Redis
// (SKIFF_REDIS_URL) every instance publishes on one channel: requests, answered by a `delivered` message from the
// instance that passed the event on, and batches, which every instance (the one that published too) takes from the
// channel, so all see one device's batches in the order the device sent them.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { Logger } from '../../lib/logger.js';
import { LogBatchSchema, LogsEventSchema, type LogBatch, type LogsEvent } from '../../protocol/device-logs.js';
import { parse } from '../../protocol/validate.js';
import { openRedisChannel, type RedisChannel, type RedisChannelOptions } from '../redis-channel.js';

/** How long a request waits for the instance that holds the device's channel to say it passed the event on. */
export const DELIVERY_TIMEOUT_MS = 2_000;

export interface LogRelayHandlers {
  /** Passes `event` to the device's push channel on this instance; false when the device has none here. */
  deliver(uuid: string, event: LogsEvent): boolean;
  /** A batch of the device's, from whichever instance it was posted to. */
  receive(uuid: string, batch: LogBatch): void;
}

export interface LogRelay {
  /** Whether other instances are reached (Redis). */
  readonly shared: boolean;
  bind(handlers: LogRelayHandlers): void;
  /** Resolves whether some instance passed `event` on to the device. */
  request(uuid: string, event: LogsEvent): Promise<boolean>;
  /** Hands the batch to every instance; resolves once it is on its way. */
  publish(uuid: string, batch: LogBatch): Promise<void>;
  close(): Promise<void>;
}

function unbound(): never {
  throw new Error('the log relay is used before the device log hub bound it');
}

/** One instance: requests and batches stay in this process. */
export function localLogRelay(): LogRelay {
  let handlers: LogRelayHandlers | null = null;
  return {
    shared: false,
    bind(h) {
      handlers = h;
    },
    request: async (uuid, event) => (handlers ?? unbound()).deliver(uuid, event),
    publish: async (uuid, batch) => {
      (handlers ?? unbound()).receive(uuid, batch);
    },
    close: async () => undefined,
  };
}

const Message = Type.Union([
  Type.Object({
    kind: Type.Literal('request'),
    id: Type.String(),
    origin: Type.String(),
    uuid: Type.String(),
    event: LogsEventSchema,
  }),
  Type.Object({ kind: Type.Literal('delivered'), id: Type.String() }),
  Type.Object({ kind: Type.Literal('batch'), uuid: Type.String(), batch: LogBatchSchema }),
]);
type RelayMessage = Static<typeof Message>;

export interface RedisLogRelayOptions {
  redisUrl: string;
  /** Shared by every instance of one deployment (`<SKIFF_REDIS_PREFIX>:device-logs`). */
  channel: string;
  logger: Logger;
  deliveryTimeoutMs?: number;
  /** Timeouts and heartbeat of the Redis connections (defaults in ../redis-channel.ts). */
  redis?: Pick<RedisChannelOptions, 'commandTimeoutMs' | 'heartbeatMs' | 'staleAfterMs'>;
}

/** The relay over a Redis channel every instance subscribes to; resolves once subscribed. */
export async function redisLogRelay(options: RedisLogRelayOptions): Promise<LogRelay> {
  const { channel, logger } = options;
  const deliveryTimeoutMs = options.deliveryTimeoutMs ?? DELIVERY_TIMEOUT_MS;
  const origin = randomUUID();
  const delivered = new EventEmitter();
  delivered.setMaxListeners(0);
  let handlers: LogRelayHandlers | null = null;
  // Messages may arrive between SUBSCRIBE and the channel's promise resolving.
  let redis: RedisChannel | null = null;
  const send = (message: RelayMessage): Promise<number> =>
    redis === null
      ? Promise.reject(new Error(`the device log relay on '${channel}' is still connecting`))
      : redis.publish(JSON.stringify(message));
  const onMessage = (text: string): void => {
    if (handlers === null) return;
    let message: RelayMessage;
    try {
      message = parse(Message, JSON.parse(text), `a message on Redis channel '${channel}'`);
    } catch (err) {
      logger.warn({ err, channel }, 'device log relay: a malformed message was ignored');
      return;
    }
    if (message.kind === 'delivered') {
      delivered.emit(message.id);
    } else if (message.kind === 'batch') {
      handlers.receive(message.uuid, message.batch);
    } else if (message.origin !== origin && handlers.deliver(message.uuid, message.event)) {
      send({ kind: 'delivered', id: message.id }).catch((err: unknown) =>
        logger.warn({ err, channel, uuid: message.uuid }, 'device log relay: cannot confirm a delivered logs event'),
      );
    }
  };
  // Log lines lost while Redis was away are no state anything keeps: there is nothing to drop on a resync.
  const opened = await openRedisChannel(
    { ...options.redis, redisUrl: options.redisUrl, channel, logger, role: 'device log relay' },
    { onMessage, onResync: () => undefined },
  );
  redis = opened;

  return {
    shared: true,
    bind(h) {
      handlers = h;
    },
    async request(uuid, event) {
      // The device's channel is here: no other instance needs to hear of it.
      if ((handlers ?? unbound()).deliver(uuid, event)) return true;
      const id = randomUUID();
      return new Promise<boolean>((resolve) => {
        const done = (answer: boolean): void => {
          clearTimeout(timer);
          delivered.off(id, onDelivered);
          resolve(answer);
        };
        const onDelivered = (): void => done(true);
        const timer = setTimeout(() => done(false), deliveryTimeoutMs);
        delivered.on(id, onDelivered);
        send({ kind: 'request', id, origin, uuid, event }).then(
          (receivers) => {
            if (receivers <= 1) done(false);
          },
          (err: unknown) => {
            logger.warn({ err, channel, uuid }, 'device log relay: cannot publish a logs request');
            done(false);
          },
        );
      });
    },
    async publish(uuid, batch) {
      try {
        await send({ kind: 'batch', uuid, batch });
      } catch (err) {
        // Redis is away: this instance's own followers still get the lines.
        logger.warn({ err, channel, uuid }, 'device log relay: cannot publish a batch; only this instance sees it');
        (handlers ?? unbound()).receive(uuid, batch);
      }
    },
    close: () => opened.close(),
  };
}

// The invalidation bus: how every API instance learns, right after a commit, that what it keeps in memory about a
// device (its sessions by token, its target) or a fleet (its devices' targets) is out of date. Changes committed
// through this instance's store come from store.changes (announced after COMMIT, store/target-generation.ts);
// with Redis (SKIFF_REDIS_URL) they are also published on a channel every instance subscribes to, and what the
// others publish is delivered here.
// The changing request is answered only once every instance has confirmed it dropped what the change concerns: each
// instance acknowledges every change message on the same channel, and the publisher waits for as many acks as Redis
// says received the message. Awaiting the PUBLISH alone is not enough: Redis answers the publisher before the
// subscribers have read the message, and on a loaded machine another instance answered the next poll from memory
// in between (a pin "made" but not served). An instance that never acks (hung, or an older version) delays the
// change's answer by at most ACK_TIMEOUT_MS and is logged; it drops its copy when the message arrives, and the
// sessions' safety TTL bounds the rest.
// Messages published while this instance's subscriber was disconnected are lost: when it hears Redis again, it
// drops everything (`everything`). Redis may also hang rather than drop: every command has a timeout, and while
// the subscriber has not heard Redis for a moment the bus is not `current` and device sessions are read from the
// store on every request (fail closed: a revoke is answered within the command timeout and refused everywhere).
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { Logger } from '../../lib/logger.js';
import { parse } from '../../protocol/validate.js';
import type { TargetChange, TargetChanges } from '../store/index.js';
import { openRedisChannel, type RedisChannel, type RedisChannelOptions } from '../redis-channel.js';

const CHANGES = 'changes';

/** How long a change's answer waits for the other instances' acks before it goes out anyway. */
export const ACK_TIMEOUT_MS = 2_000;

const Message = Type.Union([
  Type.Object({
    kind: Type.Literal('changes'),
    id: Type.String(),
    origin: Type.String(),
    changes: Type.Array(
      Type.Union([
        Type.Object({ kind: Type.Literal('device'), uuid: Type.String() }),
        Type.Object({ kind: Type.Literal('fleet'), name: Type.String() }),
      ]),
    ),
  }),
  /** Instance `from` has applied change message `id`. */
  Type.Object({ kind: Type.Literal('ack'), id: Type.String(), from: Type.String() }),
]);
export type BusMessage = Static<typeof Message>;

/** A committed change, or word that some may have been missed (so nothing kept can be trusted). */
export type Invalidation = TargetChange | { kind: 'everything' };

export interface InvalidationBus {
  /** Calls `listener` with every batch of changes, from this instance or (with Redis) any other. */
  subscribe(listener: (changes: readonly Invalidation[]) => void): () => void;
  /** Whether other instances are heard (Redis); false: this process only. */
  readonly shared: boolean;
  /**
   * Whether every change committed anywhere has reached this instance, as far as it can tell: always for one
   * process; on Redis, only while Redis answers (../redis-channel.ts). While false, nothing kept on the bus's word
   * may be trusted: device sessions are read from the store on every request (fail closed).
   */
  current(): boolean;
  close(): Promise<void>;
}

/** The bus of one process: the store's own committed changes only. */
export function localInvalidation(changes: TargetChanges): InvalidationBus {
  const events = new EventEmitter();
  const unsubscribe = changes.subscribe((batch) => {
    events.emit(CHANGES, batch);
  });
  return {
    shared: false,
    current: () => true,
    subscribe(listener) {
      events.on(CHANGES, listener);
      return () => {
        events.off(CHANGES, listener);
      };
    },
    close: async () => {
      unsubscribe();
    },
  };
}

export interface RedisInvalidationOptions {
  changes: TargetChanges;
  redisUrl: string;
  /** The channel every instance of one deployment shares (from SKIFF_REDIS_PREFIX; tests use a random one). */
  channel: string;
  logger: Logger;
  /** Default ACK_TIMEOUT_MS. */
  ackTimeoutMs?: number;
  /** Timeouts and heartbeat of the Redis connections (defaults in ../redis-channel.ts). */
  redis?: Pick<RedisChannelOptions, 'commandTimeoutMs' | 'heartbeatMs' | 'staleAfterMs'>;
}

/**
 * Acks for change messages this instance publishes, by message id. An id is opened before its PUBLISH: another
 * instance's ack can be read before PUBLISH's own answer (two sockets, either may be read first).
 */
class PendingAcks {
  private readonly entries = new Map<string, { received: number; finish?: () => void; needed?: number }>();

  open(id: string): void {
    this.entries.set(id, { received: 0 });
  }

  /** Forgets `id` (its PUBLISH failed). */
  close(id: string): void {
    this.entries.delete(id);
  }

  acked(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    entry.received += 1;
    if (entry.needed !== undefined && entry.received >= entry.needed) entry.finish?.();
  }

  /** Resolves true once `count` acks for the opened `id` arrived, false after `timeoutMs`; closes `id` either way. */
  wait(id: string, count: number, timeoutMs: number): Promise<boolean> {
    const entry = this.entries.get(id);
    if (entry === undefined || entry.received >= count) {
      this.entries.delete(id);
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.entries.delete(id);
        resolve(false);
      }, timeoutMs);
      entry.needed = count;
      entry.finish = () => {
        clearTimeout(timer);
        this.entries.delete(id);
        resolve(true);
      };
    });
  }
}

/** The bus shared by every instance on one Redis channel; resolves once subscribed. */
export async function redisInvalidation(options: RedisInvalidationOptions): Promise<InvalidationBus> {
  const { changes, channel, logger } = options;
  const ackTimeoutMs = options.ackTimeoutMs ?? ACK_TIMEOUT_MS;
  const origin = randomUUID();
  const events = new EventEmitter();
  const acks = new PendingAcks();
  // Messages may arrive between SUBSCRIBE and the channel's promise resolving.
  let redis: RedisChannel | null = null;
  const send = (message: BusMessage): Promise<number> =>
    redis === null
      ? Promise.reject(new Error(`the invalidation bus on '${channel}' is still connecting`))
      : redis.publish(JSON.stringify(message));
  const onMessage = (text: string): void => {
    let valid: BusMessage;
    try {
      valid = parse(Message, JSON.parse(text), `a message on Redis channel '${channel}'`);
    } catch (err) {
      logger.warn({ err, channel }, 'invalidation bus: a malformed message was ignored');
      return;
    }
    if (valid.kind === 'ack') {
      acks.acked(valid.id);
      return;
    }
    // This instance's own changes were delivered locally already, before they were published; it acks them too,
    // since its own subscriber is among the receivers PUBLISH counts.
    if (valid.origin !== origin) events.emit(CHANGES, valid.changes);
    send({ kind: 'ack', id: valid.id, from: origin }).catch((err: unknown) => {
      logger.warn({ err, channel, id: valid.id }, 'invalidation bus: cannot acknowledge a change');
    });
  };
  const opened = await openRedisChannel(
    { ...options.redis, redisUrl: options.redisUrl, channel, logger, role: 'invalidation bus' },
    {
      onMessage,
      onResync: () => {
        logger.warn({ channel }, 'invalidation bus: dropping every kept device session and target');
        events.emit(CHANGES, [{ kind: 'everything' }] satisfies Invalidation[]);
      },
    },
  );
  redis = opened;
  const unsubscribe = changes.subscribe(async (batch) => {
    events.emit(CHANGES, batch);
    const id = randomUUID();
    acks.open(id);
    let receivers: number;
    try {
      receivers = await send({ kind: 'changes', id, origin, changes: [...batch] });
    } catch (err) {
      acks.close(id);
      logger.error(
        { err, channel, changes: batch },
        'invalidation bus: cannot publish a change; instances that cannot hear Redis read the store meanwhile',
      );
      return;
    }
    if (!(await acks.wait(id, receivers, ackTimeoutMs))) {
      logger.warn(
        { channel, changes: batch, receivers, timeoutMs: ackTimeoutMs },
        'invalidation bus: not every instance confirmed a change in time; answering anyway',
      );
    }
  });
  return {
    shared: true,
    current: opened.current,
    subscribe(listener) {
      events.on(CHANGES, listener);
      return () => {
        events.off(CHANGES, listener);
      };
    },
    async close() {
      unsubscribe();
      await opened.close();
    },
  };
}

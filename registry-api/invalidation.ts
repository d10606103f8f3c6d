// The invalidation bus: how every API instance learns, right after a commit, that what it keeps in memory about a
// device (its sessions by token, its target) or a fleet (its devices' targets) is out of date. Changes committed
// through this instance's store come from store.changes (announced after COMMIT, store/target-generation.ts);
// with Redis (SKIFF_REDIS_URL) they are also published on a channel every instance subscribes to, and what the
// others publish is delivered here. The publish is awaited before the changing request is answered, so by the
// time a caller sees "revoked", Redis has handed the message to every subscriber.
// Messages published while this instance's subscriber was disconnected are lost: when it subscribes again, it
// drops everything (`everything`); a publish that failed on the other side is covered by the sessions' safety TTL.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Type, type Static } from '@sinclair/typebox';
import type { Logger } from '../lib/logger.js';
import { parse } from '../protocol/validate.js';
import type { TargetChange, TargetChanges } from './store/index.js';

const CHANGES = 'changes';

const Message = Type.Object({
  origin: Type.String(),
  changes: Type.Array(Type.Union([
    Type.Object({ kind: Type.Literal('device'), uuid: Type.String() }),
    Type.Object({ kind: Type.Literal('fleet'), name: Type.String() }),
  ])),
});

/** A committed change, or word that some may have been missed (so nothing kept can be trusted). */
export type Invalidation = TargetChange | { kind: 'everything' };

export interface InvalidationBus {
  /** Calls `listener` with every batch of changes, from this instance or (with Redis) any other. */
  subscribe(listener: (changes: readonly Invalidation[]) => void): () => void;
  /** Whether other instances are heard (Redis); false: this process only. */
  readonly shared: boolean;
  close(): Promise<void>;
}

/** The bus of one process: the store's own committed changes only. */
export function localInvalidation(changes: TargetChanges): InvalidationBus {
  const events = new EventEmitter();
  const unsubscribe = changes.subscribe((batch) => { events.emit(CHANGES, batch); });
  return {
    shared: false,
    subscribe(listener) {
      events.on(CHANGES, listener);
      return () => { events.off(CHANGES, listener); };
    },
    close: async () => { unsubscribe(); },
  };
}

export interface RedisInvalidationOptions {
  changes: TargetChanges;
  redisUrl: string;
  /** The channel every instance of one deployment shares (from SKIFF_REDIS_PREFIX; tests use a random one). */
  channel: string;
  logger: Logger;
}

/** The bus shared by every instance on one Redis channel; resolves once subscribed. */
export async function redisInvalidation(options: RedisInvalidationOptions): Promise<InvalidationBus> {
  const { changes, channel, logger } = options;
  const origin = randomUUID();
  const events = new EventEmitter();
  const publisher = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
  const subscriber = new Redis(options.redisUrl, { lazyConnect: true });
  for (const [name, client] of [['publisher', publisher], ['subscriber', subscriber]] as const) {
    client.on('error', (err: unknown) => logger.warn({ err, channel, client: name }, 'invalidation bus: Redis connection error'));
  }
  subscriber.on('message', (from: string, text: string) => {
    if (from !== channel) return;
    let valid: Static<typeof Message>;
    try {
      valid = parse(Message, JSON.parse(text), `a message on Redis channel '${channel}'`);
    } catch (err) {
      logger.warn({ err, channel }, 'invalidation bus: a malformed message was ignored');
      return;
    }
    // This instance's own changes were delivered locally already, before they were published.
    if (valid.origin !== origin) events.emit(CHANGES, valid.changes);
  });
  await Promise.all([publisher.connect(), subscriber.connect()]);
  await subscriber.subscribe(channel);
  // ioredis resubscribes on its own after a reconnect; whatever was published meanwhile never arrives.
  subscriber.on('ready', () => {
    logger.warn({ channel }, 'invalidation bus: reconnected to Redis; dropping every kept device session');
    events.emit(CHANGES, [{ kind: 'everything' }] satisfies Invalidation[]);
  });
  const unsubscribe = changes.subscribe(async (batch) => {
    events.emit(CHANGES, batch);
    try {
      await publisher.publish(channel, JSON.stringify({ origin, changes: batch }));
    } catch (err) {
      logger.error({ err, channel, changes: batch }, 'invalidation bus: cannot publish a change; other instances see it within the cache TTL');
    }
  });
  return {
    shared: true,
    subscribe(listener) {
      events.on(CHANGES, listener);
      return () => { events.off(CHANGES, listener); };
    },
    async close() {
      unsubscribe();
      subscriber.disconnect();
      await publisher.quit().catch(() => undefined);
    },
  };
}

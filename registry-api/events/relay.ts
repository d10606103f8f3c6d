// Fleet events across API instances: with Redis (SKIFF_REDIS_URL), each instance publishes its own events on one
// channel and hands every other instance's to its local subscribers (events streams, the dashboard). An instance's
// own events reach its subscribers directly, before the PUBLISH, and are skipped when they come back from Redis:
// every subscriber hears each event once. Events are facts to show, not state: one lost while Redis is away is
// not replayed (a stream reader re-reads the API; webhooks are queued in the store by the publishing instance).
import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { Logger } from '../../lib/logger.js';
import { FleetEventSchema } from '../../protocol/fleet-events.js';
import { parse } from '../../protocol/validate.js';
import { openRedisChannel, type RedisChannelOptions } from '../redis-channel.js';
import type { FleetEventBus } from './bus.js';

/** An event on the channel is a few hundred bytes; anything far larger is no event of an instance's. */
const MAX_MESSAGE_CHARS = 64 * 1024;

const Message = Type.Object({ origin: Type.String({ maxLength: 64 }), event: FleetEventSchema });

export interface EventRelayOptions {
  redisUrl: string;
  /** Shared by every instance of one deployment (`<SKIFF_REDIS_PREFIX>:fleet-events`). */
  channel: string;
  logger: Logger;
  redis?: Pick<RedisChannelOptions, 'commandTimeoutMs' | 'heartbeatMs' | 'staleAfterMs'>;
}

export interface EventRelay {
  close(): Promise<void>;
}

/** Relays `bus`'s events through Redis and delivers the other instances'; resolves once subscribed. */
export async function redisEventRelay(bus: FleetEventBus, options: EventRelayOptions): Promise<EventRelay> {
  const { channel, logger } = options;
  const origin = randomUUID();
  const channelOpened = await openRedisChannel(
    { ...options.redis, redisUrl: options.redisUrl, channel, logger, role: 'fleet event relay' },
    {
      onMessage(text) {
        if (text.length > MAX_MESSAGE_CHARS) {
          logger.warn({ channel, chars: text.length }, 'fleet event relay: an oversized message was ignored');
          return;
        }
        let message: typeof Message.static;
        try {
          message = parse(Message, JSON.parse(text), `a message on Redis channel '${channel}'`);
        } catch (err) {
          logger.warn({ err, channel }, 'fleet event relay: a malformed message was ignored');
          return;
        }
        if (message.origin !== origin) bus.deliver(message.event, 'remote');
      },
      onResync() {
        logger.warn({ channel }, 'fleet event relay: events of other instances may have been missed meanwhile');
      },
    },
  );
  bus.relayTo((event) => {
    channelOpened.publish(JSON.stringify({ origin, event })).catch((err: unknown) => {
      logger.warn({ err, channel, event: event.id }, 'fleet event relay: cannot publish an event to other instances');
    });
  });
  return {
    async close() {
      bus.relayTo(null);
      await channelOpened.close();
    },
  };
}

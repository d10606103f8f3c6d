// What an API instance does in the background for a fleet you can read: it notices devices going offline (and
// online by polls alone) from their last contact, compacts the metrics history, and delivers webhooks. Every part
// is safe with several instances: presence changes are announced by whichever instance's conditional write wins
// (store/presence.ts), compaction deletes only what aged out, and deliveries are claimed with a lease
// (store/webhooks.ts).
//
// Webhooks and SSRF: only global admins register webhooks (the webhook.manage action), and they can reach what the
// API can reach, the API itself and its private network included; that is theirs to decide, like any outbound
// integration they configure. Skiff limits what a receiver can do to it instead: redirects are not followed (a
// 3xx is a failed attempt), an attempt gives up after a timeout, at most WEBHOOK_MAX_RESPONSE_BYTES of an answer
// are read, URLs are http or https without credentials, and nothing of the answer is stored but its status.
import { httpRequest } from '../../lib/http-request.js';
import { messageOf } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { FleetEvent } from '../../protocol/fleet-events.js';
import { WEBHOOK_DELIVERY_HEADER, WEBHOOK_EVENT_HEADER, WEBHOOK_SIGNATURE_HEADER } from '../../protocol/webhooks.js';
import { isOnline } from '../devices/summary.js';
import type { Store } from '../store/index.js';
import type { ClaimedDelivery } from '../store/webhooks.js';
import type { FleetEventBus } from './bus.js';
import { announcePresence } from './publish.js';
import { webhookSignature } from './webhook-signature.js';

/** Bytes of a receiver's answer read at most; the rest is dropped with the connection. */
export const WEBHOOK_MAX_RESPONSE_BYTES = 4 * 1024;

export interface ActivitySettings {
  /** How often last contact is checked for devices that went offline or came online by polling. */
  presenceSweepMs: number;
  /** How often the metrics history drops what aged out. */
  compactionMs: number;
  /** How often due webhook deliveries are looked for. */
  webhookPollMs: number;
  /** How long one attempt may take. */
  webhookTimeoutMs: number;
  /** The first retry's delay; each further retry waits twice as long, up to webhookMaxBackoffMs. */
  webhookBackoffMs: number;
  webhookMaxBackoffMs: number;
  /** Attempts in all before a delivery is given up. */
  webhookMaxAttempts: number;
  /** Deliveries in flight at once per instance. */
  webhookConcurrency: number;
}

export const DEFAULT_ACTIVITY_SETTINGS: ActivitySettings = {
  presenceSweepMs: 30_000,
  compactionMs: 5 * 60_000,
  webhookPollMs: 1_000,
  webhookTimeoutMs: 10_000,
  webhookBackoffMs: 10_000,
  webhookMaxBackoffMs: 60 * 60_000,
  // 10 s, 20 s, ... about three hours in all: a receiver down for a maintenance evening still gets its events.
  webhookMaxAttempts: 12,
  webhookConcurrency: 8,
};

export interface ActivityOptions {
  store: Store;
  events: FleetEventBus;
  logger: Logger;
  now: () => Date;
  /** Sent as User-Agent with webhook deliveries. */
  version: string;
  settings?: Partial<ActivitySettings>;
}

export interface FleetActivity {
  /** One presence sweep now (tests; the timer does the same). */
  sweepPresence(): Promise<void>;
  /** One compaction now. */
  compact(): Promise<void>;
  /** Looks for due deliveries now and resolves once the attempts it started are over. */
  deliverDue(): Promise<void>;
  close(): Promise<void>;
}

/** The delay before attempt `attempts + 1` after `attempts` failed ones. */
export function backoffMs(
  attempts: number,
  settings: Pick<ActivitySettings, 'webhookBackoffMs' | 'webhookMaxBackoffMs'>,
): number {
  return Math.min(settings.webhookMaxBackoffMs, settings.webhookBackoffMs * 2 ** Math.max(0, attempts - 1));
}

/** Reads at most `limit` bytes of the answer and drops the rest (and with it the connection). */
async function drain(body: ReadableStream<Uint8Array> | null, limit: number): Promise<void> {
  if (body === null) return;
  const reader = body.getReader();
  let read = 0;
  try {
    while (read <= limit) {
      const chunk = await reader.read();
      if (chunk.done) return;
      read += chunk.value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

export function startFleetActivity(options: ActivityOptions): FleetActivity {
  const { store, events, logger, now } = options;
  const settings: ActivitySettings = { ...DEFAULT_ACTIVITY_SETTINGS, ...options.settings };
  let closed = false;
  const inFlight = new Set<Promise<void>>();

  // Webhook deliveries are queued by the instance that published the event; the others only show it.
  const unsubscribe = events.subscribe((event, origin) => {
    if (origin !== 'local' || closed) return;
    const queued = queue(event).catch((err: unknown) =>
      logger.error({ err, event: event.id, kind: event.kind }, 'webhooks: cannot queue the deliveries of an event'),
    );
    inFlight.add(queued);
    void queued.finally(() => inFlight.delete(queued));
  });

  async function queue(event: FleetEvent): Promise<void> {
    const hooks = (await store.webhooks.list()).filter(
      (hook) =>
        (hook.fleet === null || hook.fleet === event.fleet) &&
        (hook.kinds.length === 0 || hook.kinds.includes(event.kind)),
    );
    if (hooks.length === 0) return;
    const at = now();
    await store.webhooks.enqueue(
      hooks.map((h) => h.id),
      { id: event.id, kind: event.kind, body: JSON.stringify(event) },
      at.getTime(),
      at.toISOString(),
    );
    // Delivered at once rather than at the next poll: events are news.
    void deliverDue();
  }

  async function attempt(delivery: ClaimedDelivery): Promise<void> {
    const sentAt = now();
    const timestamp = Math.floor(sentAt.getTime() / 1000);
    let status: number | null = null;
    let error: string;
    try {
      const response = await httpRequest(delivery.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(settings.webhookTimeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': `skiff-webhooks/${options.version}`,
          [WEBHOOK_EVENT_HEADER.toLowerCase()]: delivery.kind,
          [WEBHOOK_DELIVERY_HEADER.toLowerCase()]: delivery.id,
          [WEBHOOK_SIGNATURE_HEADER.toLowerCase()]: webhookSignature(delivery.secret, timestamp, delivery.body),
        },
        body: delivery.body,
      });
      status = response.status;
      await drain(response.body, WEBHOOK_MAX_RESPONSE_BYTES);
      if (response.ok) {
        await store.webhooks.settle(delivery.id, { kind: 'delivered', status, at: now().toISOString() });
        logger.info({ webhook: delivery.webhookId, delivery: delivery.id, status }, 'webhooks: delivered');
        return;
      }
      error =
        status >= 300 && status < 400
          ? `the receiver answered ${status} (a redirect, which is not followed)`
          : `the receiver answered ${status}`;
    } catch (err) {
      error = `no answer: ${messageOf(err)}`.slice(0, 500);
    }
    const attempts = delivery.attempts + 1;
    const nextAttemptMs =
      attempts >= settings.webhookMaxAttempts ? null : now().getTime() + backoffMs(attempts, settings);
    await store.webhooks.settle(delivery.id, { kind: 'failed', status, error, nextAttemptMs });
    logger.warn(
      { webhook: delivery.webhookId, delivery: delivery.id, attempts, status, error, nextAttemptMs },
      nextAttemptMs === null ? 'webhooks: delivery failed for good' : 'webhooks: delivery failed, retried later',
    );
  }

  // One pass at a time per instance; one asked for meanwhile makes the running pass look again before it ends.
  let pass: Promise<void> | null = null;
  let again = false;
  function deliverDue(): Promise<void> {
    if (closed) return Promise.resolve();
    if (pass !== null) {
      again = true;
      return pass;
    }
    pass = (async () => {
      do {
        again = false;
        for (;;) {
          const lease = settings.webhookTimeoutMs + 5_000;
          const claimed = await store.webhooks.claim(now().getTime(), lease, settings.webhookConcurrency);
          if (claimed.length === 0) break;
          await Promise.all(claimed.map((d) => attempt(d)));
          if (claimed.length < settings.webhookConcurrency || closed) break;
        }
      } while (again && !closed);
    })()
      .catch((err: unknown) => logger.warn({ err }, 'webhooks: cannot read or settle due deliveries'))
      .finally(() => {
        pass = null;
      });
    return pass;
  }

  async function sweepPresence(): Promise<void> {
    const at = now();
    for (const device of await store.presence.candidates()) {
      const online = isOnline(device.lastSeen, device.pollIntervalSeconds, at);
      // A device never announced and not online now has nothing to announce.
      if (device.announced === online || (device.announced === null && !online)) continue;
      await announcePresence(events, store, device, online, at.toISOString(), logger, 'it polls');
    }
  }

  async function compact(): Promise<void> {
    const result = await store.metrics.compact(now().getTime());
    if (result.rawDeleted > 0 || result.bucketsDeleted > 0) logger.debug(result, 'metrics history compacted');
  }

  const every = (ms: number, what: string, task: () => Promise<void>): NodeJS.Timeout => {
    let running = false;
    const timer = setInterval(() => {
      if (running || closed) return;
      running = true;
      task()
        .catch((err: unknown) => logger.warn({ err }, `${what} failed; tried again in ${ms} ms`))
        .finally(() => {
          running = false;
        });
    }, ms);
    timer.unref();
    return timer;
  };
  const timers = [
    every(settings.presenceSweepMs, 'the presence sweep', sweepPresence),
    every(settings.compactionMs, 'the metrics compaction', compact),
    every(settings.webhookPollMs, 'webhook delivery', deliverDue),
  ];

  return {
    sweepPresence,
    compact,
    deliverDue,
    async close() {
      closed = true;
      unsubscribe();
      for (const timer of timers) clearInterval(timer);
      await Promise.allSettled([...inFlight, pass]);
    },
  };
}

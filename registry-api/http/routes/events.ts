// A fleet you can read over HTTP: the fleet events stream (server-sent events), the fleet's status, a device's
// metrics history, and the webhooks that carry fleet events elsewhere.
import { openEventStream } from '../event-stream.js';
import { FLEET_EVENT, RESET_EVENT } from '../../../protocol/http/events.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import {
  METRICS_MAX_POINTS,
  METRICS_MAX_RANGE_DAYS,
  type DeviceMetricsHistory,
} from '../../../protocol/device-metrics.js';
import type { FleetEvent } from '../../../protocol/fleet-events.js';
import type { NewWebhook, Webhook } from '../../../protocol/webhooks.js';
import { fleetStatusOf, type StatusInput } from '../../devices/fleet-status.js';
import type { RouteDeps } from '../../deps.js';
import type { EventStreamSettings, FleetEventRing } from '../../events/stream.js';
import type { WebhookRecord } from '../../store/webhooks.js';
import { authenticatedCaller, callerMay, stampOf } from '../auth.js';
import { deviceNamed } from '../device-lookup.js';
import { badRequest, notFound, ProblemError } from '../problem.js';
import type { Register } from '../register.js';
import { summarizer } from './devices.js';
import { fleetOr404 } from './fleets.js';

const DEFAULT_STATUS_LIMIT = 50;
const MAX_STATUS_LIMIT = 1000;
const HOUR_MS = 60 * 60 * 1000;
/** How far past its bound a reader's backlog may grow within one heartbeat period, for bursts of events. */
const HARD_BOUND_FACTOR = 4;

function publicWebhook(record: WebhookRecord): Webhook {
  const { secret: _secret, ...rest } = record;
  return rest;
}

/** An ISO-8601 time of the query, or the problem naming it. */
function timeOf(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) {
    throw badRequest(
      'invalid-query',
      `${name} '${text.slice(0, 64)}' is not an ISO-8601 time (e.g. 2026-01-31T12:00:00Z)`,
    );
  }
  return ms;
}

/** A webhook URL admins may register: http or https, no credentials (they would be sent to wherever it points). */
function webhookUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `'${text.slice(0, 100)}' is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return `the URL's scheme is ${url.protocol}; http: or https: only`;
  if (url.username !== '' || url.password !== '') return 'the URL carries credentials; sign-in is the signature';
  return null;
}

export interface EventRouteOptions {
  ring: FleetEventRing;
  settings: EventStreamSettings;
}

export function eventRoutes(on: Register, deps: RouteDeps, options: EventRouteOptions): void {
  const { store, logger, events } = deps;
  const { ring, settings } = options;
  let streams = 0;

  on(ROUTES.fleetEvents, async (ctx, request) => {
    const { fleet } = request.query();
    if (fleet !== undefined) await fleetOr404(store.fleets, fleet);
    if (streams >= settings.maxStreams) {
      throw new ProblemError(
        503,
        'too-many-event-streams',
        `this API instance holds its limit of ${settings.maxStreams} fleet event streams; retry later`,
        undefined,
        { 'Retry-After': '30' },
      );
    }
    const user = authenticatedCaller(ctx).user.name;
    // Without ?fleet=, each event is shown only to a caller who may read its fleet (grants may change meanwhile:
    // checked with the roles the caller authenticated with, until it reconnects).
    const wanted = (event: FleetEvent): boolean =>
      fleet === undefined ? callerMay(ctx, 'read', event.fleet) : event.fleet === fleet;
    const lastEventId = ctx.get('Last-Event-ID').slice(0, 64);

    streams += 1;
    const res = openEventStream(ctx);
    let ended = false;
    // A reader that stopped reading is cut off before its backlog grows the API: at once past a hard bound (a burst
    // of events is written in one go, so the soft bound may be passed for a moment by a reader that keeps up), and
    // at a heartbeat when it has not read its backlog down below the soft bound meanwhile. It reconnects with
    // Last-Event-ID and gets what the ring still holds, or a reset.
    const cutOff = (why: string): void => {
      logger.info({ user, fleet, unsentBytes: res.writableLength, why }, 'fleet events: a reader fell behind: cut off');
      res.destroy();
      end();
    };
    const write = (text: string): void => {
      if (ended || res.writableEnded) return;
      if (res.writableLength > settings.maxBufferedBytes * HARD_BOUND_FACTOR) {
        cutOff('hard bound');
        return;
      }
      res.write(text);
    };
    const send = (event: FleetEvent): void => {
      if (wanted(event)) write(`id: ${event.id}\nevent: ${FLEET_EVENT}\ndata: ${JSON.stringify(event)}\n\n`);
    };
    // Subscribed before the replay is read: nothing can fall between them (both run in this one tick).
    const unsubscribe = events.subscribe(send);
    if (lastEventId !== '') {
      const missed = ring.after(lastEventId);
      if (missed === null)
        write(`event: ${RESET_EVENT}\ndata: ${JSON.stringify({ reason: 'events were missed' })}\n\n`);
      else for (const event of missed) send(event);
    } else {
      // Something to read at once: a reader knows the stream is open (proxies flush it too).
      write(': open\n\n');
    }
    const heartbeat = setInterval(() => {
      if (res.writableLength > settings.maxBufferedBytes) cutOff('not read within a heartbeat');
      else write(': heartbeat\n\n');
    }, settings.heartbeatMs);
    function end(): void {
      if (ended) return;
      ended = true;
      streams -= 1;
      clearInterval(heartbeat);
      unsubscribe();
      res.end();
      logger.debug({ user, fleet }, 'fleet events: reader left');
    }
    ctx.req.on('close', end);
    res.on('close', end);
    res.on('error', end);
    logger.debug({ user, fleet, lastEventId }, 'fleet events: reader joined');
  });

  on(ROUTES.fleetStatus, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const query = request.query();
    const limit = query.limit === undefined ? DEFAULT_STATUS_LIMIT : Number(query.limit);
    if (limit > MAX_STATUS_LIMIT)
      throw badRequest('invalid-query', `limit ${limit} is above the maximum of ${MAX_STATUS_LIMIT}`);
    const now = deps.now();
    const devices = (await store.devices.list({ fleet: fleet.name, status: 'accepted' })).filter(
      (d) => d.revokedAt === null,
    );
    const summarize = summarizer(store, now);
    const versions = new Map<string, string | null>();
    const inputs: StatusInput[] = [];
    for (const device of devices) {
      const report = device.lastReport;
      for (const service of report?.services ?? []) {
        const id = service.releaseId;
        if (id !== null && !versions.has(id)) {
          const release = await store.releases.get(id);
          versions.set(id, release !== null && release.fleet === fleet.name ? release.version : null);
        }
      }
      inputs.push({ summary: await summarize(device), report, versionOf: (id) => versions.get(id) ?? null });
    }
    ctx.body = fleetStatusOf(fleet.name, inputs, {
      windowZone: fleet.settings.updateWindow?.timezone ?? null,
      now,
      limit,
    });
  });

  on(ROUTES.deviceMetrics, async (ctx, request) => {
    const device = await deviceNamed(store, request.params.uuid);
    const query = request.query();
    const nowMs = deps.now().getTime();
    const toMs = timeOf(query.to, 'to', nowMs);
    const fromMs = timeOf(query.from, 'from', toMs - HOUR_MS);
    if (fromMs >= toMs)
      throw badRequest('invalid-query', `from (${query.from}) must be before to (${query.to ?? 'now'})`);
    const oldest = nowMs - METRICS_MAX_RANGE_DAYS * 24 * HOUR_MS;
    if (fromMs < oldest) {
      throw badRequest(
        'invalid-query',
        `from ${new Date(fromMs).toISOString()} is more than ${METRICS_MAX_RANGE_DAYS} days back: the API keeps no older metrics`,
      );
    }
    const series = await store.metrics.series(device.uuid, { fromMs, toMs }, nowMs, METRICS_MAX_POINTS);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      uuid: device.uuid,
      from: new Date(fromMs).toISOString(),
      to: new Date(toMs).toISOString(),
      resolution: series.resolution,
      points: series.points,
    } satisfies DeviceMetricsHistory;
  });

  on(ROUTES.createWebhook, async (ctx, request) => {
    const body = await request.body();
    const problem = webhookUrlProblem(body.url);
    if (problem !== null)
      throw badRequest('invalid-body', `the webhook's URL: ${problem}`, [{ path: '/url', message: problem }]);
    const fleet = body.fleet ?? null;
    if (fleet !== null) await fleetOr404(store.fleets, fleet);
    const record = await store.webhooks.create(
      { url: body.url, fleet, kinds: body.kinds ?? [] },
      stampOf(ctx, deps.now),
    );
    logger.info({ webhook: record.id, fleet, url: record.url, kinds: record.kinds }, 'webhook registered');
    ctx.status = 201;
    ctx.body = { ...publicWebhook(record), secret: record.secret } satisfies NewWebhook;
  });

  on(ROUTES.listWebhooks, async (ctx) => {
    ctx.body = (await store.webhooks.list()).map(publicWebhook);
  });

  on(ROUTES.deleteWebhook, async (ctx, request) => {
    const id = request.params.id;
    const hook = await store.webhooks.get(id);
    if (hook === null || !(await store.webhooks.remove(id, stampOf(ctx, deps.now))))
      throw notFound(`there is no webhook '${id.slice(0, 64)}'`);
    logger.info({ webhook: id }, 'webhook removed');
    ctx.body = publicWebhook(hook);
  });

  on(ROUTES.webhookDeliveries, async (ctx, request) => {
    const id = request.params.id;
    if ((await store.webhooks.get(id)) === null) throw notFound(`there is no webhook '${id.slice(0, 64)}'`);
    ctx.body = await store.webhooks.deliveries(id, 100);
  });
}

// The target poll, answered ahead of the router. Every device polls every interval, nearly always for a 304, so
// this one request is most of the API's traffic; going through the whole middleware chain and matching it against
// every route costs more than answering it. Only a plain, successful poll is answered here, by the same code as the
// route (servePoll), from the device's session kept in memory (../devices/sessions.ts: dropped on every instance by the
// invalidation bus when the device is revoked, rotated, re-pinned...) and its cached target. Anything else - no or
// dead token, a device not accepted, another device's uuid, an encoded or odd path, a missing fleet, a failing
// read - goes on to the router untouched, which reads the database itself, so every error answer still comes from
// the one problem boundary and is logged and counted there.
import type { Context, Middleware } from 'koa';
import { SIGNATURE_HEADER } from '../../protocol/signature.js';
import type { Logger } from '../../lib/logger.js';
import { bearerOf, type ApiState } from '../http/auth.js';
import type { DeviceSessions } from '../devices/sessions.js';
import type { RouteDeps } from '../deps.js';
import { isFresh } from '../http/etag.js';
import type { ApiMetrics } from '../http/metrics.js';
import { DEVICE_API_ROUTES as ROUTES } from '../../protocol/http/device-api.js';
import type { DeviceRecord, TargetGeneration } from '../store/index.js';
import type { ServedTarget } from './target-cache.js';

/** What the poll's declared path has around its one parameter (/v1/device/ and /target), taken apart once. */
const [PREFIX, SUFFIX] = ROUTES.deviceTarget.path.split(':uuid') as [string, string];

/**
 * Answers a poll of `device` (authenticated, read at `generation`): 304 when If-None-Match names the current
 * ETag, else the signed target. False, with nothing set, when the device's fleet does not exist.
 */
export async function servePoll(
  deps: Pick<RouteDeps, 'targetCache' | 'store' | 'now'>,
  ctx: Context,
  device: DeviceRecord,
  generation: TargetGeneration,
): Promise<boolean> {
  const served = await deps.targetCache.targetOf(device, generation);
  if (served === null) return false;
  deps.store.devices.seen(device.uuid, deps.now().getTime());
  answer(ctx, served);
  return true;
}

/** Sets the answer to a poll for `served`: 304 if If-None-Match names it, else the signed target. */
function answer(ctx: Context, served: ServedTarget): void {
  ctx.set('ETag', served.etag);
  // Devices must revalidate every time: a cached target would hide a new release.
  ctx.set('Cache-Control', 'no-cache');
  if (isFresh(ctx.get('If-None-Match') || undefined, served.etag)) {
    ctx.status = 304;
    return;
  }
  const { body, signature } = served.signed();
  ctx.set(SIGNATURE_HEADER, signature);
  ctx.type = 'application/json';
  ctx.body = body;
}

/**
 * The uuid of a `GET /v1/device/<uuid>/target` path, exactly as the router spells the route; null for any other
 * path and for a uuid the router would have to decode (a '%'), which the router then handles.
 */
export function polledUuid(path: string): string | null {
  if (!path.startsWith(PREFIX) || !path.endsWith(SUFFIX)) return null;
  const uuid = path.slice(PREFIX.length, path.length - SUFFIX.length);
  if (uuid === '' || uuid.includes('/') || uuid.includes('%')) return null;
  return uuid;
}

/** The first middleware of the app: answers plain polls, passes everything else on. */
export function pollFastPath(
  deps: Pick<RouteDeps, 'targetCache' | 'store' | 'now'> & {
    logger: Logger;
    metrics: ApiMetrics;
    sessions: DeviceSessions;
  },
): Middleware<ApiState> {
  const { sessions, logger, metrics } = deps;
  const route = ROUTES.deviceTarget.path;
  const answered = async (ctx: Context, uuid: string): Promise<boolean> => {
    const token = bearerOf(ctx);
    if (token === null) return false;
    const found = await sessions.find(token);
    if (found === null || found.device.authStatus !== 'accepted' || found.device.uuid !== uuid) return false;
    return servePoll(deps, ctx, found.device, found.generation);
  };
  // Nearly every answer is a 304 or a 200: their series are looked up once, not per poll.
  const notModified = metrics.seriesOf('GET', route, 304);
  const ok = metrics.seriesOf('GET', route, 200);
  const observed = (ctx: Context, started: number): void => {
    const status = ctx.status;
    const series = status === 304 ? notModified : status === 200 ? ok : metrics.seriesOf('GET', route, status);
    series.latency.observe((performance.now() - started) / 1000);
    series.count.inc();
    if (logger.isLevelEnabled('debug')) {
      logger.debug(
        {
          method: ctx.method,
          path: ctx.path,
          status: ctx.status,
          ms: Math.round((performance.now() - started) * 10) / 10,
        },
        'request',
      );
    }
  };
  /**
   * The common case with no promise at all: session and target in memory, last contact noted for a batched write.
   * Every promise costs here (the store's AsyncLocalStorage makes Node track each one).
   */
  const answeredFromMemory = (ctx: Context, uuid: string): boolean => {
    const token = bearerOf(ctx);
    if (token === null) return false;
    const nowMs = deps.now().getTime();
    const session = sessions.kept(token, nowMs);
    if (session === null) return false;
    const { device, generation } = session;
    if (device.authStatus !== 'accepted' || device.uuid !== uuid) return false;
    const served = deps.targetCache.settledTarget(device, generation);
    if (served === null || served === undefined) return false;
    deps.store.devices.seen(uuid, nowMs);
    answer(ctx, served);
    return true;
  };
  return (ctx, next) => {
    const uuid = ctx.method === 'GET' ? polledUuid(ctx.path) : null;
    if (uuid === null) return next();
    const started = performance.now();
    if (answeredFromMemory(ctx, uuid)) {
      observed(ctx, started);
      return undefined;
    }
    return answeredOrPassed(ctx, next, uuid, started);
  };
  async function answeredOrPassed(
    ctx: Context,
    next: () => Promise<unknown>,
    uuid: string,
    started: number,
  ): Promise<unknown> {
    let done: boolean;
    try {
      done = await answered(ctx, uuid);
    } catch {
      // The router asks again and answers (and logs) the failure through the problem boundary, without what this
      // attempt may have set.
      for (const header of ['ETag', 'Cache-Control', SIGNATURE_HEADER]) ctx.remove(header);
      done = false;
    }
    if (!done) return next();
    observed(ctx, started);
    return undefined;
  }
}

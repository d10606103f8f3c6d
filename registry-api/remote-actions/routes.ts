// Remote actions over HTTP (protocol/device-actions.ts): people ask for one and read how it went, the device takes
// what waits for it and posts its results. The device learns of a new action through its push channel
// (notifier.ts); what it may run comes only from its own authenticated fetch.
import {
  DEFAULT_ACTION_TTL_SECONDS,
  MAX_DIAGNOSTICS_BYTES,
  SERVICE_ACTION_KINDS,
  type DeviceActionOrder,
} from '../../protocol/device-actions.js';
import { ROUTES } from '../../protocol/http/routes.js';
import { authenticatedDevice, stampOf } from '../http/auth.js';
import type { RouteDeps } from '../deps.js';
import { deviceNamed } from '../http/device-lookup.js';
import { badRequest, conflict, notFound, ProblemError } from '../http/problem.js';
import type { Register } from '../http/register.js';
import type { DeviceActionNotifier } from './notifier.js';

export function deviceActionRoutes(on: Register, deps: RouteDeps, notifier: DeviceActionNotifier): void {
  const { store, logger } = deps;

  on(ROUTES.createDeviceAction, async (ctx, request) => {
    const device = await deviceNamed(store, request.params.uuid);
    const body = await request.body();
    const wantsService = SERVICE_ACTION_KINDS.includes(body.action);
    if (wantsService && body.service === undefined) {
      throw badRequest('invalid-body', `the action: '${body.action}' needs the service to act on`, [
        { path: '/service', message: `is required for ${SERVICE_ACTION_KINDS.join(', ')}` },
      ]);
    }
    if (!wantsService && body.service !== undefined) {
      throw badRequest('invalid-body', `the action: '${body.action}' acts on the whole device, not on a service`, [
        { path: '/service', message: `is only for ${SERVICE_ACTION_KINDS.join(', ')}` },
      ]);
    }
    if (device.authStatus !== 'accepted' || device.revokedAt !== null) {
      throw conflict(
        `device '${device.uuid}' (${device.shortId}) is ${device.revokedAt === null ? device.authStatus : 'revoked'}: it takes no actions`,
      );
    }
    const stamp = stampOf(ctx, deps.now);
    const ttlSeconds = body.ttlSeconds ?? DEFAULT_ACTION_TTL_SECONDS;
    const action = await store.deviceActions.create(
      {
        uuid: device.uuid,
        fleet: device.fleet,
        action: body.action,
        service: body.service ?? null,
        expiresAt: new Date(Date.parse(stamp.at) + ttlSeconds * 1000).toISOString(),
      },
      stamp,
    );
    const told = notifier.notify(device.uuid, action.id);
    logger.info(
      { uuid: device.uuid, id: action.id, action: action.action, service: action.service, told },
      told ? 'device action recorded, device told' : 'device action recorded, the device hears of it when it connects',
    );
    ctx.status = 201;
    ctx.body = action;
  });

  on(ROUTES.getDeviceAction, async (ctx, request) => {
    const device = await deviceNamed(store, request.params.uuid);
    const action = await store.deviceActions.get(device.uuid, request.params.action, deps.now().toISOString());
    if (action === null)
      throw notFound(`device '${device.uuid}' has no action '${request.params.action.slice(0, 64)}'`);
    ctx.body = action;
  });

  on(ROUTES.getDeviceDiagnostics, async (ctx, request) => {
    const device = await deviceNamed(store, request.params.uuid);
    const id = request.params.action;
    const action = await store.deviceActions.get(device.uuid, id, deps.now().toISOString());
    if (action === null) throw notFound(`device '${device.uuid}' has no action '${id.slice(0, 64)}'`);
    const bundle = await store.deviceActions.diagnostics(device.uuid, id);
    if (bundle === null) {
      throw notFound(
        `action ${id} of device '${device.uuid}' has no diagnostics bundle: it is a ${action.action} action, ${action.status}`,
      );
    }
    // Stored as checked JSON text: sent as it is.
    ctx.type = 'application/json';
    ctx.body = bundle;
  });

  on(ROUTES.pendingDeviceActions, async (ctx) => {
    const me = authenticatedDevice(ctx);
    const taken = await store.deviceActions.take(me.uuid, deps.now().toISOString());
    const orders: DeviceActionOrder[] = taken.map((a) => ({
      id: a.id,
      action: a.action,
      service: a.service,
      expiresAt: a.expiresAt,
    }));
    if (orders.length > 0) logger.info({ uuid: me.uuid, ids: orders.map((o) => o.id) }, 'device actions handed out');
    ctx.body = orders;
  });

  on(ROUTES.deviceActionResult, async (ctx, request) => {
    const me = authenticatedDevice(ctx);
    const id = request.params.action;
    const result = await request.body();
    let diagnostics: string | null = null;
    if (result.diagnostics !== undefined) {
      diagnostics = JSON.stringify(result.diagnostics);
      const bytes = Buffer.byteLength(diagnostics);
      if (bytes > MAX_DIAGNOSTICS_BYTES) {
        throw new ProblemError(
          413,
          'too-large',
          `the diagnostics bundle of action ${id} is ${bytes} bytes of JSON; at most ${MAX_DIAGNOSTICS_BYTES} are taken`,
        );
      }
    }
    const done = await store.deviceActions.finish(
      me.uuid,
      id,
      { status: result.status, message: result.message, diagnostics },
      deps.now().toISOString(),
    );
    if (done === null)
      throw conflict(`device '${me.uuid}' was handed no action '${id.slice(0, 64)}' that still waits for its result`);
    logger.info({ uuid: me.uuid, id, action: done.action, status: done.status }, 'device action finished');
    ctx.status = 204;
  });
}

// Config vars of fleets and devices, and a device's own settings over its fleet's. Every change here changes the
// target state (and so the ETag) of the devices concerned; each is audited with who and when.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { ConfigVarNameSchema, type DeviceConfigView } from '../../../protocol/fleet-config.js';
import { check } from '../../../protocol/validate.js';
import { stampOf, type AccessControl, type ApiState } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { badRequest, notFound } from '../problem.js';
import { readBody } from '../request-body.js';
import { ROUTES } from '../route-table.js';
import { reservedNameProblem, settingsIssues } from '../../fleet/settings-check.js';
import type { DeviceRecord, Store } from '../../store/index.js';
import { deviceConfigOf } from '../../fleet/target-state.js';
import { fleetOr404, minutesFrom } from './fleets.js';

/** The `:name` of the path as a config var name, or a 400 saying what is wrong with it. */
function varName(ctx: Context & { params: Record<string, string> }): string {
  const name = ctx.params.name ?? '';
  const issues = check(ConfigVarNameSchema, name);
  if (issues.length > 0) {
    throw badRequest(
      'invalid-config-var',
      `'${name}' is not a config var name: use letters, digits and _, not starting with a digit`,
      issues.map((i) => ({ path: 'name', message: i.message })),
    );
  }
  const reserved = reservedNameProblem(name);
  if (reserved !== null) throw badRequest('reserved-config-var', reserved, [{ path: 'name', message: reserved }]);
  return name;
}

async function deviceOr404(store: Store, id: string | undefined): Promise<DeviceRecord> {
  const device = id === undefined ? null : await store.devices.get(id);
  if (!device) throw notFound(`device '${id ?? ''}' is not registered`);
  return device;
}

async function deviceConfigView(store: Store, device: DeviceRecord): Promise<DeviceConfigView> {
  const fleet = await fleetOr404(store.fleets, device.fleet);
  const [settings, vars, fleetVars] = await Promise.all([
    store.config.deviceSettings(device.uuid),
    store.config.vars({ device: device.uuid }),
    store.config.vars({ fleet: fleet.name }),
  ]);
  return {
    uuid: device.uuid,
    fleet: fleet.name,
    settings,
    vars,
    fleetVars,
    effective: deviceConfigOf({ fleet, fleetVars, deviceSettings: settings, deviceVars: vars }),
  };
}

export function configRoutes(router: Router<ApiState>, deps: RouteDeps, access: AccessControl): void {
  const { store, logger } = deps;

  router.get('/v1/fleets/:fleet/config/vars', access.allow('read'), async (ctx) => {
    const fleet = await fleetOr404(store.fleets, ctx.params.fleet);
    ctx.body = await store.config.vars({ fleet: fleet.name });
  });

  router.put('/v1/fleets/:fleet/config/vars/:name', access.allow('fleet.rollout'), async (ctx) => {
    const fleet = await fleetOr404(store.fleets, ctx.params.fleet);
    const name = varName(ctx);
    const { value } = await readBody(ctx, ROUTES.setFleetVar);
    await store.config.setVar({ fleet: fleet.name }, name, value, stampOf(ctx, deps.now));
    logger.info({ fleet: fleet.name, name }, 'fleet config var set');
    ctx.body = await store.config.vars({ fleet: fleet.name });
  });

  router.delete('/v1/fleets/:fleet/config/vars/:name', access.allow('fleet.rollout'), async (ctx) => {
    const fleet = await fleetOr404(store.fleets, ctx.params.fleet);
    const name = varName(ctx);
    if (!(await store.config.unsetVar({ fleet: fleet.name }, name, stampOf(ctx, deps.now)))) {
      throw notFound(`fleet '${fleet.name}' has no config var '${name}'`);
    }
    logger.info({ fleet: fleet.name, name }, 'fleet config var removed');
    ctx.body = await store.config.vars({ fleet: fleet.name });
  });

  router.get('/v1/devices/:uuid/config', access.allow('read'), async (ctx) => {
    ctx.body = await deviceConfigView(store, await deviceOr404(store, ctx.params.uuid));
  });

  router.patch('/v1/devices/:uuid/config', access.allow('device.manage'), async (ctx) => {
    const device = await deviceOr404(store, ctx.params.uuid);
    const change = await readBody(ctx, ROUTES.updateDeviceConfig);
    const issues = settingsIssues(change);
    if (issues.length > 0)
      throw badRequest('invalid-settings', `the settings for device '${device.uuid}' are invalid`, issues);
    const both = Object.keys(change).filter((field) => change.inherit?.includes(field as never));
    if (both.length > 0) {
      throw badRequest(
        'invalid-settings',
        `${both.join(', ')}: both set and inherited in one change; say one or the other`,
        both.map((field) => ({ path: `/${field}`, message: 'is also listed in /inherit' })),
      );
    }
    await store.config.updateDeviceSettings(device.uuid, change, stampOf(ctx, deps.now));
    logger.info({ uuid: device.uuid, fields: Object.keys(change) }, 'device settings changed');
    ctx.body = await deviceConfigView(store, device);
  });

  router.post('/v1/devices/:uuid/update-now', access.allow('device.manage'), async (ctx) => {
    const device = await deviceOr404(store, ctx.params.uuid);
    const { minutes } = await readBody(ctx, ROUTES.deviceUpdateNow);
    const until = minutesFrom(deps.now(), minutes);
    await store.config.updateDeviceSettings(device.uuid, { forceUpdateUntil: until }, stampOf(ctx, deps.now));
    logger.info({ uuid: device.uuid, until }, 'device updates now, whatever its window');
    ctx.body = await deviceConfigView(store, device);
  });

  router.put('/v1/devices/:uuid/config/vars/:name', access.allow('device.manage'), async (ctx) => {
    const device = await deviceOr404(store, ctx.params.uuid);
    const name = varName(ctx);
    const { value } = await readBody(ctx, ROUTES.setDeviceVar);
    await store.config.setVar({ device: device.uuid }, name, value, stampOf(ctx, deps.now));
    logger.info({ uuid: device.uuid, name }, 'device config var set');
    ctx.body = await deviceConfigView(store, device);
  });

  router.delete('/v1/devices/:uuid/config/vars/:name', access.allow('device.manage'), async (ctx) => {
    const device = await deviceOr404(store, ctx.params.uuid);
    const name = varName(ctx);
    if (!(await store.config.unsetVar({ device: device.uuid }, name, stampOf(ctx, deps.now)))) {
      throw notFound(`device '${device.uuid}' has no config var '${name}' of its own`);
    }
    logger.info({ uuid: device.uuid, name }, 'device config var removed');
    ctx.body = await deviceConfigView(store, device);
  });
}

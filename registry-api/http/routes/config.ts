// Config vars of fleets and devices, and a device's own settings over its fleet's. Every change here changes the
// target state (and so the ETag) of the devices concerned; each is audited with who and when.
//
// Config vars may hold secrets (passwords, API keys). Their values are shown to the roles that set them
// (operator), that ship the code reading them on the device (developer, who may read its logs as well) and to
// admins; a viewer reads the names only, each value as the empty string. Names stay visible: which settings a
// device gets is what a viewer is there to see.
import {
  ConfigVarNameSchema,
  type ConfigVars,
  type DeviceConfigView,
  type ServiceVars,
} from '../../../protocol/fleet-config.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import { check } from '../../../protocol/validate.js';
import { authenticatedCaller, stampOf, type AuthedContext } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { badRequest, notFound } from '../problem.js';
import type { Register } from '../register.js';
import { permits } from '../../../protocol/access-policy.js';
import { reservedNameProblem, settingsIssues } from '../../fleet/settings-check.js';
import type { DeviceRecord, Store } from '../../store/index.js';
import { deviceConfigOf } from '../../fleet/target-state.js';
import { fleetOr404, minutesFrom } from './fleets.js';
import { deviceNamed } from '../device-lookup.js';

/** The `:name` of the path as a config var name, or a 400 saying what is wrong with it. */
function varName(name: string): string {
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

/** Whether the caller may read config var values (see the top of this file). */
function seesValues(ctx: AuthedContext, fleet: string): boolean {
  const { user } = authenticatedCaller(ctx);
  return permits(user, 'fleet.rollout', { fleet }) || permits(user, 'release.push', { fleet });
}

function namesOnly(vars: ConfigVars): ConfigVars {
  return Object.fromEntries(Object.keys(vars).map((name) => [name, '']));
}

/** `vars` as the caller may see them. */
function varsFor(ctx: AuthedContext, fleet: string, vars: ConfigVars): ConfigVars {
  return seesValues(ctx, fleet) ? vars : namesOnly(vars);
}

/** `view` as the caller may see it. */
function viewFor(ctx: AuthedContext, view: DeviceConfigView): DeviceConfigView {
  if (seesValues(ctx, view.fleet)) return view;
  const { serviceEnv, ...effective } = view.effective;
  return {
    ...view,
    vars: namesOnly(view.vars),
    fleetVars: namesOnly(view.fleetVars),
    ...(view.serviceVars === undefined ? {} : { serviceVars: perServiceNamesOnly(view.serviceVars) }),
    ...(view.fleetServiceVars === undefined ? {} : { fleetServiceVars: perServiceNamesOnly(view.fleetServiceVars) }),
    effective: {
      ...effective,
      env: namesOnly(view.effective.env),
      ...(serviceEnv === undefined ? {} : { serviceEnv: perServiceNamesOnly(serviceEnv) }),
    },
  };
}

function perServiceNamesOnly(vars: ServiceVars): ServiceVars {
  return Object.fromEntries(Object.entries(vars).map(([service, own]) => [service, namesOnly(own)]));
}

/** The scope a route's `?service=` narrows `owner` to. */
function scoped<T extends { fleet: string } | { device: string }>(owner: T, service: string | undefined) {
  return service === undefined ? owner : { ...owner, service };
}

/** "fleet 'x'" or "fleet 'x' (service 'y')", for messages. */
function scopeWords(owner: string, service: string | undefined): string {
  return service === undefined ? owner : `${owner} (service '${service}')`;
}

async function deviceConfigView(store: Store, device: DeviceRecord): Promise<DeviceConfigView> {
  const fleet = await fleetOr404(store.fleets, device.fleet);
  const [settings, vars, fleetVars] = await Promise.all([
    store.config.deviceSettings(device.uuid),
    store.config.vars({ device: device.uuid }),
    store.config.vars({ fleet: fleet.name }),
  ]);
  const [serviceVars, fleetServiceVars] = await Promise.all([
    store.config.serviceVars({ device: device.uuid }),
    store.config.serviceVars({ fleet: fleet.name }),
  ]);
  return {
    uuid: device.uuid,
    fleet: fleet.name,
    settings,
    vars,
    fleetVars,
    serviceVars,
    fleetServiceVars,
    effective: deviceConfigOf({
      fleet,
      fleetVars,
      deviceSettings: settings,
      deviceVars: vars,
      fleetServiceVars,
      deviceServiceVars: serviceVars,
    }),
  };
}

export function configRoutes(on: Register, deps: RouteDeps): void {
  const { store, logger } = deps;

  on(ROUTES.fleetVars, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const { service } = request.query();
    ctx.body = varsFor(ctx, fleet.name, await store.config.vars(scoped({ fleet: fleet.name }, service)));
  });

  on(ROUTES.setFleetVar, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const name = varName(request.params.name);
    const { service } = request.query();
    const { value } = await request.body();
    const scope = scoped({ fleet: fleet.name }, service);
    await store.config.setVar(scope, name, value, stampOf(ctx, deps.now));
    logger.info({ fleet: fleet.name, service, name }, 'fleet config var set');
    ctx.body = await store.config.vars(scope);
  });

  on(ROUTES.unsetFleetVar, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const name = varName(request.params.name);
    const { service } = request.query();
    const scope = scoped({ fleet: fleet.name }, service);
    if (!(await store.config.unsetVar(scope, name, stampOf(ctx, deps.now)))) {
      throw notFound(`${scopeWords(`fleet '${fleet.name}'`, service)} has no config var '${name}'`);
    }
    logger.info({ fleet: fleet.name, service, name }, 'fleet config var removed');
    ctx.body = await store.config.vars(scope);
  });

  on(ROUTES.deviceConfig, async (ctx, request) => {
    ctx.body = viewFor(ctx, await deviceConfigView(store, await deviceNamed(store, request.params.uuid)));
  });

  on(ROUTES.updateDeviceConfig, async (ctx, request) => {
    const device = await deviceNamed(store, request.params.uuid);
    const change = await request.body();
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

  on(ROUTES.deviceUpdateNow, async (ctx, request) => {
    const device = await deviceNamed(store, request.params.uuid);
    const { minutes } = await request.body();
    const until = minutesFrom(deps.now(), minutes);
    await store.config.updateDeviceSettings(device.uuid, { forceUpdateUntil: until }, stampOf(ctx, deps.now));
    logger.info({ uuid: device.uuid, until }, 'device updates now, whatever its window');
    ctx.body = await deviceConfigView(store, device);
  });

  on(ROUTES.setDeviceVar, async (ctx, request) => {
    const device = await deviceNamed(store, request.params.uuid);
    const name = varName(request.params.name);
    const { service } = request.query();
    const { value } = await request.body();
    await store.config.setVar(scoped({ device: device.uuid }, service), name, value, stampOf(ctx, deps.now));
    logger.info({ uuid: device.uuid, service, name }, 'device config var set');
    ctx.body = await deviceConfigView(store, device);
  });

  on(ROUTES.unsetDeviceVar, async (ctx, request) => {
    const device = await deviceNamed(store, request.params.uuid);
    const name = varName(request.params.name);
    const { service } = request.query();
    if (!(await store.config.unsetVar(scoped({ device: device.uuid }, service), name, stampOf(ctx, deps.now)))) {
      throw notFound(`${scopeWords(`device '${device.uuid}'`, service)} has no config var '${name}' of its own`);
    }
    logger.info({ uuid: device.uuid, service, name }, 'device config var removed');
    ctx.body = await deviceConfigView(store, device);
  });
}

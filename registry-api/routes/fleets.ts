// Fleets and their release policy (track the newest ready release, or stay on one). Creating a fleet is for admins,
// rolling out for operators; a fleet's provisioning key is shown only to those who may provision devices.
import type Router from '@koa/router';
import { Type } from '@sinclair/typebox';
import { CreateFleetRequestSchema, PinRequestSchema, paths, type Fleet } from '../../protocol/api.js';
import { DEFAULT_DEVICE_CONFIG } from '../../protocol/target-state.js';
import { stampOf, type AccessControl, type ApiState, type AuthedContext } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import { conflict, notFound } from '../problem.js';
import { readBody } from '../request-body.js';
import { newSecret } from '../secrets.js';
import type { FleetRecord, FleetStore } from '../store/index.js';
import { fleetView } from '../views.js';

export const EmptyBodySchema = Type.Object({}, { additionalProperties: false });

export async function fleetOr404(fleets: FleetStore, name: string | undefined): Promise<FleetRecord> {
  const fleet = name === undefined ? null : await fleets.get(name);
  if (!fleet) throw notFound(`fleet '${name ?? ''}' does not exist`);
  return fleet;
}

export function fleetRoutes(router: Router<ApiState>, deps: RouteDeps, access: AccessControl): void {
  const { store, logger } = deps;

  /** The fleet as this caller may see it: the provisioning key registers devices, so only operators see it. */
  const viewFor = (ctx: AuthedContext) => (fleet: FleetRecord): Fleet => {
    const view = fleetView(fleet);
    return access.may(ctx, 'provisioning-key.read') ? view : { ...view, provisioningKey: '' };
  };

  router.post(paths.fleets, access.allow('fleet.create'), async (ctx) => {
    const body = await readBody(ctx, CreateFleetRequestSchema, 'the new fleet');
    const fleet = await store.fleets.create({
      name: body.name,
      deviceType: body.deviceType,
      provisioningKey: newSecret(),
      pollIntervalSeconds: body.pollIntervalSeconds ?? DEFAULT_DEVICE_CONFIG.pollIntervalSeconds,
      createdAt: deps.now().toISOString(),
    }, stampOf(ctx, deps.now));
    logger.info({ fleet: fleet.name, deviceType: fleet.deviceType }, 'fleet created');
    ctx.status = 201;
    ctx.body = viewFor(ctx)(fleet);
  });

  router.get(paths.fleets, access.allow('read'), async (ctx) => {
    ctx.body = (await store.fleets.list()).map(viewFor(ctx));
  });

  router.get('/v1/fleets/:fleet', access.allow('read'), async (ctx) => {
    ctx.body = viewFor(ctx)(await fleetOr404(store.fleets, ctx.params.fleet));
  });

  router.post('/v1/fleets/:fleet/pin', access.allow('fleet.rollout'), async (ctx) => {
    const fleet = await fleetOr404(store.fleets, ctx.params.fleet);
    const { release: wanted } = await readBody(ctx, PinRequestSchema, 'the pin request');
    const release = await store.releases.find(fleet.name, wanted);
    if (!release) throw notFound(`fleet '${fleet.name}' has no release with id or version '${wanted}'`);
    if (release.status !== 'ready') {
      throw conflict(`release ${release.version} of fleet '${fleet.name}' is ${release.status}, not ready: devices cannot run it`);
    }
    const updated = await store.fleets.setPolicy(fleet.name, { mode: 'pinned', releaseId: release.id }, stampOf(ctx, deps.now));
    logger.info({ fleet: fleet.name, release: release.id, version: release.version }, 'fleet pinned');
    ctx.body = viewFor(ctx)(updated ?? fleet);
  });

  router.post('/v1/fleets/:fleet/track-latest', access.allow('fleet.rollout'), async (ctx) => {
    const fleet = await fleetOr404(store.fleets, ctx.params.fleet);
    await readBody(ctx, EmptyBodySchema, 'the track-latest request');
    const updated = await store.fleets.setPolicy(fleet.name, { mode: 'latest' }, stampOf(ctx, deps.now));
    logger.info({ fleet: fleet.name }, 'fleet tracks its latest release');
    ctx.body = viewFor(ctx)(updated ?? fleet);
  });
}

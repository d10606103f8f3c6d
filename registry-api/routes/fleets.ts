// Fleets and their release policy (track the newest ready release, or stay on one): admin only.
import type Router from '@koa/router';
import { Type } from '@sinclair/typebox';
import { CreateFleetRequestSchema, PinRequestSchema } from '../../protocol/api.js';
import { DEFAULT_DEVICE_CONFIG } from '../../protocol/target-state.js';
import { requireAdmin, type ApiState } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import { conflict, notFound } from '../problem.js';
import { readBody } from '../request-body.js';
import { newSecret } from '../secrets.js';
import type { FleetRecord, FleetStore } from '../store/index.js';
import { fleetView } from '../views.js';

const EmptyBodySchema = Type.Object({}, { additionalProperties: false });

export async function fleetOr404(fleets: FleetStore, name: string | undefined): Promise<FleetRecord> {
  const fleet = name === undefined ? null : await fleets.get(name);
  if (!fleet) throw notFound(`fleet '${name ?? ''}' does not exist`);
  return fleet;
}

export function fleetRoutes(router: Router<ApiState>, deps: RouteDeps): void {
  const { store, logger } = deps;
  const admin = requireAdmin(deps.adminToken);

  router.post('/v1/fleets', admin, async (ctx) => {
    const body = await readBody(ctx, CreateFleetRequestSchema, 'the new fleet');
    const fleet = await store.fleets.create({
      name: body.name,
      deviceType: body.deviceType,
      provisioningKey: newSecret(),
      pollIntervalSeconds: body.pollIntervalSeconds ?? DEFAULT_DEVICE_CONFIG.pollIntervalSeconds,
      createdAt: deps.now().toISOString(),
    });
    logger.info({ fleet: fleet.name, deviceType: fleet.deviceType }, 'fleet created');
    ctx.status = 201;
    ctx.body = fleetView(fleet);
  });

  router.get('/v1/fleets', admin, async (ctx) => {
    ctx.body = (await store.fleets.list()).map(fleetView);
  });

  router.get('/v1/fleets/:fleet', admin, async (ctx) => {
    ctx.body = fleetView(await fleetOr404(store.fleets, ctx.params.fleet));
  });

  router.post('/v1/fleets/:fleet/pin', admin, async (ctx) => {
    const fleet = await fleetOr404(store.fleets, ctx.params.fleet);
    const { release: wanted } = await readBody(ctx, PinRequestSchema, 'the pin request');
    const release = await store.releases.find(fleet.name, wanted);
    if (!release) throw notFound(`fleet '${fleet.name}' has no release with id or version '${wanted}'`);
    if (release.status !== 'ready') {
      throw conflict(`release ${release.version} of fleet '${fleet.name}' is ${release.status}, not ready: devices cannot run it`);
    }
    const updated = await store.fleets.setPolicy(fleet.name, { mode: 'pinned', releaseId: release.id });
    logger.info({ fleet: fleet.name, release: release.id, version: release.version }, 'fleet pinned');
    ctx.body = fleetView(updated ?? fleet);
  });

  router.post('/v1/fleets/:fleet/track-latest', admin, async (ctx) => {
    const fleet = await fleetOr404(store.fleets, ctx.params.fleet);
    await readBody(ctx, EmptyBodySchema, 'the track-latest request');
    const updated = await store.fleets.setPolicy(fleet.name, { mode: 'latest' });
    logger.info({ fleet: fleet.name }, 'fleet tracks its latest release');
    ctx.body = fleetView(updated ?? fleet);
  });
}

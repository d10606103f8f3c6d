// Releases of a fleet: a compose file normalised into service specs with pinned images, versioned per fleet.
import type Router from '@koa/router';
import { CreateReleaseRequestSchema } from '../../protocol/api.js';
import { normalizeCompose } from '../../protocol/compose.js';
import { ValidationError } from '../../protocol/validate.js';
import { stampOf, type AccessControl, type ApiState } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import { badRequest } from '../problem.js';
import { readBody } from '../request-body.js';
import { releaseView } from '../views.js';
import { fleetOr404 } from './fleets.js';

export function releaseRoutes(router: Router<ApiState>, deps: RouteDeps, access: AccessControl): void {
  const { store, logger } = deps;

  router.post('/v1/fleets/:fleet/releases', access.allow('release.push'), async (ctx) => {
    const fleet = await fleetOr404(store.fleets, ctx.params.fleet);
    const body = await readBody(ctx, CreateReleaseRequestSchema, 'the new release');
    let normalized;
    try {
      normalized = normalizeCompose(body.compose, body.images);
    } catch (err) {
      if (err instanceof ValidationError) throw badRequest('invalid-compose', err.message, err.issues);
      throw err;
    }
    const release = await store.releases.create({
      fleet: fleet.name,
      ...(body.version === undefined ? {} : { version: body.version }),
      // Ready at once for now; registry verification of every image will move this through 'pending'.
      status: 'ready',
      compose: body.compose,
      services: normalized.services,
      volumes: normalized.volumes,
      networks: normalized.networks,
      images: Object.fromEntries(normalized.services.map((s) => [s.name, s.image])),
      notes: body.notes ?? null,
      createdAt: deps.now().toISOString(),
    }, stampOf(ctx, deps.now));
    logger.info({ fleet: fleet.name, release: release.id, version: release.version, services: release.services.length }, 'release created');
    ctx.status = 201;
    ctx.body = releaseView(release);
  });

  router.get('/v1/fleets/:fleet/releases', access.allow('read'), async (ctx) => {
    const fleet = await fleetOr404(store.fleets, ctx.params.fleet);
    ctx.body = (await store.releases.list(fleet.name)).map(releaseView);
  });
}

// Releases of a fleet: a compose file normalised into service specs with pinned images, versioned per fleet.
// A release is created pending and queued for verification (jobs/verify-release.ts); it becomes ready, and
// reachable for devices, only once every image it names was found in its registry.
import type Router from '@koa/router';
import { normalizeCompose } from '../../../protocol/compose.js';
import { ValidationError } from '../../../protocol/validate.js';
import { stampOf, type AccessControl, type ApiState } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { badRequest, notFound } from '../problem.js';
import { readBody } from '../request-body.js';
import { ROUTES } from '../route-table.js';
import { releaseView } from '../views.js';
import { fleetOr404 } from './fleets.js';

export function releaseRoutes(router: Router<ApiState>, deps: RouteDeps, access: AccessControl): void {
  const { store, logger, jobs } = deps;

  router.post('/v1/fleets/:fleet/releases', access.allow('release.push'), async (ctx) => {
    const fleet = await fleetOr404(store.fleets, ctx.params.fleet);
    const body = await readBody(ctx, ROUTES.createRelease);
    let normalized: ReturnType<typeof normalizeCompose>;
    try {
      normalized = normalizeCompose(body.compose, body.images);
    } catch (err) {
      if (err instanceof ValidationError) throw badRequest('invalid-compose', err.message, err.issues);
      throw err;
    }
    const release = await store.releases.create(
      {
        fleet: fleet.name,
        ...(body.version === undefined ? {} : { version: body.version }),
        status: 'pending',
        compose: body.compose,
        services: normalized.services,
        volumes: normalized.volumes,
        networks: normalized.networks,
        images: Object.fromEntries(normalized.services.map((s) => [s.name, s.image])),
        notes: body.notes ?? null,
        createdAt: deps.now().toISOString(),
      },
      stampOf(ctx, deps.now),
    );
    // Should queueing fail (Redis down), the release stays pending and is queued again at the next start.
    try {
      await jobs.verifyRelease(release.id);
    } catch (err) {
      logger.error(
        { err, fleet: fleet.name, release: release.id },
        'cannot queue the verification of a new release: it stays pending until the API restarts',
      );
    }
    logger.info(
      { fleet: fleet.name, release: release.id, version: release.version, services: release.services.length },
      'release created, verification queued',
    );
    ctx.status = 201;
    ctx.body = releaseView(release);
  });

  router.get('/v1/fleets/:fleet/releases', access.allow('read'), async (ctx) => {
    const fleet = await fleetOr404(store.fleets, ctx.params.fleet);
    ctx.body = (await store.releases.list(fleet.name)).map(releaseView);
  });

  router.get('/v1/fleets/:fleet/releases/:release', access.allow('read'), async (ctx) => {
    const fleet = await fleetOr404(store.fleets, ctx.params.fleet);
    const wanted = ctx.params.release ?? '';
    const release = await store.releases.find(fleet.name, wanted);
    if (!release) throw notFound(`fleet '${fleet.name}' has no release with id or version '${wanted}'`);
    ctx.body = releaseView(release);
  });
}

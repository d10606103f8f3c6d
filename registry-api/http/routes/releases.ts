// Releases of a fleet: a compose file normalised into service specs with pinned images, versioned per fleet.
// A release is created pending and queued for verification (jobs/verify-release.ts); it becomes ready, and
// reachable for devices, only once every image it names was found in its registry.
import { normalizeCompose } from '../../../protocol/compose/normalize.js';
import { ValidationError } from '../../../protocol/validate.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import { stampOf } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { badRequest, notFound } from '../problem.js';
import type { Register } from '../register.js';
import { releaseView } from '../views.js';
import { fleetOr404 } from './fleets.js';

export function releaseRoutes(on: Register, deps: RouteDeps): void {
  const { store, logger, jobs } = deps;

  on(ROUTES.createRelease, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const body = await request.body();
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
        ...(normalized.networkDefinitions === undefined ? {} : { networkDefinitions: normalized.networkDefinitions }),
        ...(normalized.volumeDefinitions === undefined ? {} : { volumeDefinitions: normalized.volumeDefinitions }),
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

  on(ROUTES.listReleases, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    ctx.body = (await store.releases.list(fleet.name)).map(releaseView);
  });

  on(ROUTES.getRelease, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const wanted = request.params.release;
    const release = await store.releases.find(fleet.name, wanted);
    if (!release) throw notFound(`fleet '${fleet.name}' has no release with id or version '${wanted}'`);
    ctx.body = releaseView(release);
  });
}

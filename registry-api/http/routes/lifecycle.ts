// The ends of things (store/lifecycle.ts has the rules): archive or delete a fleet, delete a release no device
// runs or targets, delete a user but never the last admin, decommission a device. Refusals are 409s that say what
// still holds the thing and what to do first.
import { ROUTES } from '../../../protocol/http/routes.js';
import { authenticatedCaller, stampOf } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { deviceNamed } from '../device-lookup.js';
import { conflict, notFound } from '../problem.js';
import type { Register } from '../register.js';
import { fleetView, releaseView } from '../views.js';
import { summarizer } from './devices.js';
import { fleetOr404 } from './fleets.js';
import { userView } from './users.js';

export function lifecycleRoutes(on: Register, deps: RouteDeps): void {
  const { store, logger } = deps;

  for (const [route, archived] of [
    [ROUTES.archiveFleet, true],
    [ROUTES.unarchiveFleet, false],
  ] as const) {
    on(route, async (ctx, request) => {
      // `{}` and nothing else: read, so a malformed body is refused before anything changes.
      await request.body();
      const fleet = await fleetOr404(store.fleets, request.params.fleet);
      const changed = await store.lifecycle.setArchived(fleet.name, archived, stampOf(ctx, deps.now));
      if (changed === null) throw notFound(`fleet '${fleet.name}' does not exist`);
      if (changed) logger.info({ fleet: fleet.name }, archived ? 'fleet archived' : 'fleet taken out of the archive');
      ctx.body = fleetView(await fleetOr404(store.fleets, fleet.name));
    });
  }

  on(ROUTES.deleteFleet, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const outcome = await store.lifecycle.deleteFleet(fleet.name, stampOf(ctx, deps.now));
    switch (outcome.kind) {
      case 'no-fleet':
        throw notFound(`fleet '${fleet.name}' does not exist`);
      case 'has-devices':
        throw conflict(
          `fleet '${fleet.name}' has ${outcome.devices} device(s): decommission them first (skiff device decommission), or archive the fleet to keep them running`,
        );
      case 'referenced':
        throw conflict(`fleet '${fleet.name}' is still referenced, nothing was deleted: ${outcome.detail}`);
      case 'deleted':
        logger.info({ fleet: fleet.name, releases: outcome.releases }, 'fleet deleted');
        ctx.body = fleetView(fleet);
    }
  });

  on(ROUTES.deleteRelease, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const release = await store.releases.find(fleet.name, request.params.release);
    if (!release) throw notFound(`fleet '${fleet.name}' has no release with id or version '${request.params.release}'`);
    // What each device should run is the target's logic (pins, the fleet's policy, platforms, approval): the
    // same summaries people see say whether any device's target is this release.
    const summarize = summarizer(store, deps.now());
    const targeting: string[] = [];
    for (const device of await store.devices.list({ fleet: fleet.name })) {
      const summary = await summarize(device);
      if (summary.targetRelease === release.version) targeting.push(device.uuid);
    }
    if (targeting.length > 0)
      throw conflict(
        `release ${release.version} of fleet '${fleet.name}' is the target of ${targeting.length} device(s) (${targeting.slice(0, 5).join(', ')}${targeting.length > 5 ? ', ...' : ''}): pin them, or the fleet, to another release first`,
      );
    const outcome = await store.lifecycle.deleteRelease(release.id, stampOf(ctx, deps.now));
    switch (outcome.kind) {
      case 'no-release':
        throw notFound(`fleet '${fleet.name}' has no release '${release.id}'`);
      case 'in-use':
        throw conflict(
          `release ${release.version} of fleet '${fleet.name}' is in use: ${outcome.reasons.join('; ')}; pin them to another release first`,
        );
      case 'deleted':
        logger.info({ fleet: fleet.name, release: release.id, version: release.version }, 'release deleted');
        ctx.body = releaseView(release);
    }
  });

  on(ROUTES.deleteUser, async (ctx, request) => {
    const user = await store.users.get(request.params.name);
    if (!user) throw notFound(`user '${request.params.name}' does not exist`);
    const outcome = await store.lifecycle.deleteUser(user.name, stampOf(ctx, deps.now));
    switch (outcome.kind) {
      case 'no-user':
        throw notFound(`user '${user.name}' does not exist`);
      case 'last-admin':
        throw conflict(
          `user '${user.name}' is the last admin: make another user admin first, or nobody could manage users again`,
        );
      case 'deleted':
        logger.info({ user: user.name, by: authenticatedCaller(ctx).user.name }, 'user deleted');
        ctx.body = userView(user);
    }
  });

  on(ROUTES.decommissionDevice, async (ctx, request) => {
    const device = await deviceNamed(store, request.params.uuid);
    const gone = await store.lifecycle.decommission(device.uuid, stampOf(ctx, deps.now));
    if (!gone) throw notFound(`device '${device.uuid}' is gone`);
    logger.info({ uuid: gone.uuid, shortId: gone.shortId, fleet: gone.fleet }, 'device decommissioned');
    const stamp = stampOf(ctx, deps.now);
    deps.events.publish({
      kind: 'device.decommissioned',
      fleet: gone.fleet,
      device: gone.uuid,
      at: stamp.at,
      summary: `device ${gone.name} (${gone.shortId}) decommissioned by ${stamp.actor}`,
      detail: { shortId: gone.shortId },
    });
    ctx.body = { ...gone, decommissionedAt: stamp.at };
  });
}

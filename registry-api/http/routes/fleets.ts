// Fleets, their release policy (track the newest ready release, or stay on one) and their settings (poll
// interval, update window, bandwidth cap, "update now", lock override). Creating a fleet is for admins, rolling
// out and changing settings for operators. A fleet's provisioning keys are kept hashed: the first one's secret is in
// the answer that created the fleet only (later keys: routes/provisioning-keys.ts).
import { deviceTypeProblem } from '../../../protocol/device-types.js';
import { DEFAULT_UPDATE_NOW_MINUTES } from '../../../protocol/fleet-config.js';
import { approvalAllowsDevices } from '../../../protocol/release-review.js';
import type { CreateFleetRequest } from '../../../protocol/api.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import { DEFAULT_DEVICE_CONFIG } from '../../../protocol/target-state.js';
import { callerMay, stampOf } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { badRequest, conflict, notFound, ProblemError } from '../problem.js';
import type { Register } from '../register.js';
import { hashSecret, newSecret } from '../../keys/secrets.js';
import { settingsIssues } from '../../fleet/settings-check.js';
import type { FleetRecord, FleetStore, ReleaseRecord } from '../../store/index.js';
import { fleetView } from '../views.js';
import { provisioningKeyRoutes } from './provisioning-keys.js';

export async function fleetOr404(fleets: FleetStore, name: string | undefined): Promise<FleetRecord> {
  const fleet = name === undefined ? null : await fleets.get(name);
  if (!fleet) throw notFound(`fleet '${name ?? ''}' does not exist`);
  return fleet;
}

/** An archived fleet takes no new devices or releases: a 409 that says how to take it back. */
export function refuseArchived(fleet: FleetRecord, what: string): void {
  if (fleet.archivedAt === null) return;
  throw new ProblemError(
    409,
    'fleet-archived',
    `fleet '${fleet.name}' was archived at ${fleet.archivedAt} and takes no ${what}; take it out of the archive first (skiff fleet unarchive ${fleet.name})`,
  );
}

/** Devices can run only ready releases: a 409 that says why this one is not. */
export function refuseUnready(release: ReleaseRecord, who: string): void {
  if (release.status === 'ready') return;
  const why =
    release.status === 'pending'
      ? 'its images are still being verified in the registry'
      : `its verification failed: ${
          release.verification?.failure
            ? `service ${release.verification.failure.service} (${release.verification.failure.image}): ${release.verification.failure.reason}`
            : 'no reason recorded'
        }`;
  throw conflict(
    `release ${release.version} of fleet '${release.fleet}' is ${release.status}, not ready, so ${who} cannot run it: ${why}`,
  );
}

/** Devices can run only releases that need no approval or got it: a 409 that says where this one stands. */
export function refuseUnapproved(release: ReleaseRecord, who: string): void {
  const { approval, reasons, decidedBy, decidedAt } = release.review;
  if (approvalAllowsDevices(approval)) return;
  const why =
    approval === 'pending'
      ? `it waits for an operator's approval (skiff release approve ${release.fleet} ${release.version})${
          reasons.length === 0 ? '' : `: ${reasons.join('; ')}`
        }`
      : `it was rejected by ${decidedBy ?? 'unknown'} at ${decidedAt ?? 'an unknown time'}`;
  throw conflict(
    `release ${release.version} of fleet '${release.fleet}' is ${approval} approval, so ${who} cannot run it: ${why}`,
  );
}

/** An instant `minutes` from now, as the API's clock sees it (device clocks may be off). */
export function minutesFrom(now: Date, minutes: number | undefined): string {
  return new Date(now.getTime() + (minutes ?? DEFAULT_UPDATE_NOW_MINUTES) * 60_000).toISOString();
}

/** The device types a new fleet admits: `deviceTypes`, or the one `deviceType`; each must be a known one. */
function fleetDeviceTypes(body: CreateFleetRequest): string[] {
  if (body.deviceType !== undefined && body.deviceTypes !== undefined && !body.deviceTypes.includes(body.deviceType)) {
    throw badRequest('invalid-body', `the new fleet's deviceType must be one of its deviceTypes`, [
      { path: '/deviceType', message: 'not among deviceTypes' },
    ]);
  }
  const types = body.deviceTypes ?? (body.deviceType === undefined ? [] : [body.deviceType]);
  if (types.length === 0) {
    throw badRequest('invalid-body', `the new fleet needs a device type: set deviceType or deviceTypes`, [
      { path: '/deviceType', message: 'missing' },
    ]);
  }
  const issues = types.flatMap((slug, i) => {
    const problem = deviceTypeProblem(slug);
    return problem === null ? [] : [{ path: body.deviceTypes ? `/deviceTypes/${i}` : '/deviceType', message: problem }];
  });
  if (issues.length > 0) throw badRequest('invalid-body', `the new fleet: ${issues[0]!.message}`, issues);
  // The primary type first, then the rest in the order given.
  return body.deviceType === undefined ? types : [body.deviceType, ...types.filter((t) => t !== body.deviceType)];
}

export function fleetRoutes(on: Register, deps: RouteDeps): void {
  const { store, logger } = deps;

  /** A store change answered null: the fleet went away between the lookup and the change. */
  const changed = (name: string, fleet: FleetRecord | null): FleetRecord => {
    if (!fleet) throw notFound(`fleet '${name}' does not exist`);
    return fleet;
  };

  on(ROUTES.createFleet, async (ctx, request) => {
    const body = await request.body();
    const deviceTypes = fleetDeviceTypes(body);
    const firstKey = newSecret();
    const fleet = await store.fleets.create(
      {
        name: body.name,
        deviceType: deviceTypes[0]!,
        deviceTypes,
        provisioningKeyHash: hashSecret(firstKey),
        pollIntervalSeconds: body.pollIntervalSeconds ?? DEFAULT_DEVICE_CONFIG.pollIntervalSeconds,
        createdAt: deps.now().toISOString(),
      },
      stampOf(ctx, deps.now),
    );
    logger.info({ fleet: fleet.name, deviceTypes: fleet.deviceTypes }, 'fleet created');
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { ...fleetView(fleet), provisioningKey: firstKey };
  });

  on(ROUTES.listFleets, async (ctx) => {
    // Users with roles on some fleets only see those.
    ctx.body = (await store.fleets.list()).filter((f) => callerMay(ctx, 'read', f.name)).map(fleetView);
  });

  on(ROUTES.getFleet, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const month = deps.now().toISOString().slice(0, 7);
    ctx.body = { ...fleetView(fleet), dataUse: await store.traffic.ofFleet(fleet.name, month) };
  });

  on(ROUTES.updateFleet, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const change = await request.body();
    const issues = settingsIssues(change);
    if (issues.length > 0)
      throw badRequest('invalid-settings', `the settings for fleet '${fleet.name}' are invalid`, issues);
    const updated = changed(fleet.name, await store.fleets.updateSettings(fleet.name, change, stampOf(ctx, deps.now)));
    logger.info({ fleet: fleet.name, fields: Object.keys(change) }, 'fleet settings changed');
    ctx.body = fleetView(updated);
  });

  on(ROUTES.fleetUpdateNow, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const { minutes } = await request.body();
    const until = minutesFrom(deps.now(), minutes);
    const updated = changed(
      fleet.name,
      await store.fleets.updateSettings(fleet.name, { forceUpdateUntil: until }, stampOf(ctx, deps.now)),
    );
    logger.info({ fleet: fleet.name, until }, 'fleet updates now, whatever its window');
    ctx.body = fleetView(updated);
  });

  on(ROUTES.pinFleet, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const { release: wanted } = await request.body();
    const release = await store.releases.find(fleet.name, wanted);
    if (!release) throw notFound(`fleet '${fleet.name}' has no release with id or version '${wanted}'`);
    refuseUnready(release, `fleet '${fleet.name}'`);
    refuseUnapproved(release, `fleet '${fleet.name}'`);
    const updated = await store.fleets.setPolicy(
      fleet.name,
      { mode: 'pinned', releaseId: release.id },
      stampOf(ctx, deps.now),
    );
    logger.info({ fleet: fleet.name, release: release.id, version: release.version }, 'fleet pinned');
    ctx.body = fleetView(changed(fleet.name, updated));
  });

  on(ROUTES.trackLatest, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    await request.body();
    const updated = await store.fleets.setPolicy(fleet.name, { mode: 'latest' }, stampOf(ctx, deps.now));
    logger.info({ fleet: fleet.name }, 'fleet tracks its latest release');
    ctx.body = fleetView(changed(fleet.name, updated));
  });

  provisioningKeyRoutes(on, deps);
}

// Devices as people see them: summaries per fleet (or per admission status), one device with the last state report
// it sent; and what operators do to one device: pre-authorize its key, accept, reject or revoke it, pin it to a
// release over its fleet's policy, let it follow its fleet again, rename, tag and annotate it. Every /:uuid route
// takes the device's short id too.
import { randomUUID } from 'node:crypto';
import type { Static, TSchema } from '@sinclair/typebox';
import type { DeviceSummary } from '../../../protocol/api.js';
import type { DeviceDetail } from '../../../protocol/device-detail.js';
import type { RouteSpec } from '../../../protocol/http/route.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import { deviceUuidProblem } from '../../../protocol/device-auth.js';
import { decodePublicKey } from '../../../protocol/signature.js';
import { callerMay, stampOf } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { publishDecommissioned, publishRegistered } from '../../events/publish.js';
import { summaryOf } from '../../devices/summary.js';
import { announceWrongMeter } from '../../devices/wrong-meter.js';
import { runningOf } from '../../devices/fleet-status.js';
import { badRequest, conflict, notFound } from '../problem.js';
import type { Register } from '../register.js';
import type { DeviceRecord, DeviceView, Stamp, Store } from '../../store/index.js';
import { releaseChoiceOf, runsRelease, targetReleaseOf } from '../../fleet/target-state.js';
import { fleetOr404, refuseArchived, refuseUnapproved } from './fleets.js';
import { deviceNamed } from '../device-lookup.js';
import { groupsNamed, type DeviceSelector } from '../../../protocol/device-selector.js';
import { selectorMatcher } from '../../devices/attributes.js';
import { pickedOr400, selectorOr400 } from './device-groups.js';

/** Caches each key's first answer: a list of devices reads each fleet and release once. */
function memo<V>(load: (key: string) => Promise<V>): (key: string) => Promise<V> {
  const cache = new Map<string, Promise<V>>();
  return (key) => {
    let value = cache.get(key);
    if (!value) {
      value = load(key);
      cache.set(key, value);
    }
    return value;
  };
}

/** Describes devices, reading each fleet, fleet target and release once however many devices share them. */
export function summarizer(store: Store, now: Date): (device: DeviceView) => Promise<DeviceSummary> {
  const fleetOf = memo((name) => store.fleets.get(name));
  const releaseOf = memo((id) => store.releases.get(id));
  const rolloutTargetsOf = memo((name) => store.rollouts.targetsIn(name));
  // What every device of a fleet without a pin of its own should run.
  const fleetTargetOf = memo(async (name) => {
    const fleet = await fleetOf(name);
    return fleet ? targetReleaseOf(store.releases, fleet, { pinnedReleaseId: null }) : null;
  });
  return async (device) => {
    const fleet = await fleetOf(device.fleet);
    // Devices reference their fleet by foreign key: a missing fleet is a broken database, not bad input.
    if (!fleet) throw new Error(`device '${device.uuid}' belongs to fleet '${device.fleet}', which does not exist`);
    // A rollout covering the device decides after its own pin: the same order its target takes.
    const fromRollout = (await rolloutTargetsOf(fleet.name)).get(device.uuid) ?? null;
    const named =
      device.pinnedReleaseId === null && fromRollout === null
        ? await fleetTargetOf(fleet.name)
        : await targetReleaseOf(store.releases, fleet, { pinnedReleaseId: device.pinnedReleaseId }, fromRollout);
    // A release without the device's platform is not what it gets: the same choice its target makes.
    const choice =
      named === null || runsRelease(named, device.platform)
        ? { release: named, heldBack: null }
        : await releaseChoiceOf(store.releases, fleet, device, fromRollout);
    const target = choice.release;
    const runningId = device.lastReport?.releaseId ?? null;
    const running = runningId === null ? null : await releaseOf(runningId);
    const pinned = device.pinnedReleaseId === null ? null : await releaseOf(device.pinnedReleaseId);
    // Midway through an update services run different releases: say which, rather than nothing.
    const services = device.lastReport?.services ?? [];
    const versions = new Map<string, string | null>();
    if (running === null && services.length > 0) {
      for (const id of new Set(services.map((s) => s.releaseId))) {
        if (id === null) continue;
        const release = await releaseOf(id);
        versions.set(id, release !== null && release.fleet === fleet.name ? release.version : null);
      }
    }
    const mixed =
      running === null && services.length > 0 ? runningOf(device.lastReport, (id) => versions.get(id) ?? null) : null;
    return {
      ...summaryOf({
        device,
        fleet,
        targetVersion: target?.version ?? null,
        targetReleaseId: target?.id ?? null,
        runningVersion: running && running.fleet === fleet.name ? running.version : null,
        now,
      }),
      pinnedRelease: pinned && pinned.fleet === fleet.name ? pinned.version : null,
      ...(mixed === null ? {} : { running: mixed }),
      platform: device.platform,
      targetHeldBack: choice.heldBack,
      revokedAt: device.revokedAt,
      note: device.note,
      tags: device.tags,
    };
  };
}

/** A store change answered null: the device went away between the lookup and the change. */
function changed(uuid: string, device: DeviceRecord | null): DeviceRecord {
  if (!device) throw notFound(`device '${uuid}' is gone`);
  return device;
}

type ActionRoute = RouteSpec & { path: `/v1/devices/:uuid/${string}`; body: TSchema };

/** One thing an operator does to one device: POST /v1/devices/:uuid/<action> with the route's body. */
interface DeviceAction<R extends ActionRoute> {
  route: R;
  change: (device: DeviceView, body: Static<R['body']>, stamp: Stamp) => Promise<DeviceRecord | null>;
  /** The log line, from the device after the change. */
  logged: (device: DeviceRecord) => [Record<string, unknown>, string];
}

function action<R extends ActionRoute>(definition: DeviceAction<R>): DeviceAction<ActionRoute> {
  return definition as unknown as DeviceAction<ActionRoute>;
}

export function deviceRoutes(on: Register, deps: RouteDeps): void {
  const { store, logger } = deps;

  const detailOf = async (uuid: string): Promise<DeviceDetail> => {
    const device = await deviceNamed(store, uuid);
    const now = deps.now();
    const summary = await summarizer(store, now)(device);
    // 31 days, today included, and a year of months: what the detail schema allows.
    const sinceDay = new Date(now.getTime() - 30 * 86_400_000).toISOString().slice(0, 10);
    const dataUse = await store.traffic.ofDevice(device.uuid, { sinceDay, months: 12 });
    return {
      ...summary,
      lastReport: device.lastReport,
      ...(dataUse.days.length === 0 && dataUse.months.length === 0 ? {} : { dataUse }),
    };
  };

  on(ROUTES.listDevices, async (ctx, request) => {
    const { fleet: fleetName, status, filter } = request.query();
    const selector = filter === undefined ? null : selectorOr400(filter, '/filter');
    if (fleetName !== undefined) await fleetOr404(store.fleets, fleetName);
    const devices = await store.devices.list({
      ...(fleetName === undefined ? {} : { fleet: fleetName }),
      ...(status === undefined ? {} : { status }),
    });
    // Users with roles on some fleets only see those fleets' devices.
    let visible = devices.filter((d) => callerMay(ctx, 'read', d.fleet));
    if (selector !== null) {
      const now = deps.now();
      if (fleetName === undefined) await refuseUnknownGroups(selector, visible);
      // A group is one fleet's: over several fleets, a fleet without it has none of its devices in the answer.
      const matches = selectorMatcher(store, selector, now, fleetName === undefined ? 'none' : 'refuse');
      const kept = await pickedOr400(() => Promise.all(visible.map(matches)), '/filter');
      visible = visible.filter((_, i) => kept[i]);
    }
    ctx.body = await Promise.all(visible.map(summarizer(store, deps.now())));
  });

  /** A listing over several fleets still refuses a group that none of the listed fleets has: a typo, likely. */
  const refuseUnknownGroups = async (selector: DeviceSelector, devices: readonly DeviceView[]): Promise<void> => {
    const names = groupsNamed(selector);
    if (names.length === 0) return;
    const fleets = [...new Set(devices.map((d) => d.fleet))];
    const known = new Set((await Promise.all(fleets.map((f) => store.groups.list(f)))).flat().map((g) => g.name));
    const unknown = names.find((name) => !known.has(name));
    if (unknown !== undefined)
      throw badRequest(
        'invalid-selector',
        `the device selector names the group "${unknown}", which none of the listed fleets has (skiff groups FLEET lists them)`,
        [{ path: '/filter', message: `no fleet has the group "${unknown}"` }],
      );
  };

  on(ROUTES.preauthorizeDevice, async (ctx, request) => {
    const body = await request.body();
    try {
      decodePublicKey(body.publicKey, 'publicKey');
    } catch (err) {
      throw badRequest('invalid-body', `the pre-authorization: ${err instanceof Error ? err.message : String(err)}`, [
        { path: '/publicKey', message: 'is not an Ed25519 public key (base64 SPKI DER)' },
      ]);
    }
    const uuidProblem = body.uuid === undefined ? null : deviceUuidProblem(body.uuid);
    if (uuidProblem !== null)
      throw badRequest('invalid-body', `the pre-authorization: ${uuidProblem}`, [
        { path: '/uuid', message: uuidProblem },
      ]);
    const fleet = await fleetOr404(store.fleets, body.fleet);
    refuseArchived(fleet, 'a new device');
    const device = await store.devices.preauthorize(
      {
        uuid: body.uuid ?? randomUUID(),
        fleet: fleet.name,
        deviceType: fleet.deviceType,
        publicKey: body.publicKey,
        ...(body.name === undefined ? {} : { name: body.name }),
      },
      stampOf(ctx, deps.now),
    );
    logger.info({ uuid: device.uuid, fleet: fleet.name }, 'device pre-authorized');
    ctx.status = 201;
    ctx.body = await detailOf(device.uuid);
  });

  on(ROUTES.getDevice, async (ctx, request) => {
    ctx.body = await detailOf(request.params.uuid);
  });

  on(ROUTES.updateDevice, async (ctx, request) => {
    const device = await deviceNamed(store, request.params.uuid);
    const change = await request.body();
    const updated = changed(device.uuid, await store.devices.update(device.uuid, change, stampOf(ctx, deps.now)));
    logger.info({ uuid: device.uuid, fields: Object.keys(change) }, 'device updated');
    // Commissioned for another meter than the one it reports reading (the installer's typo, or the wrong box).
    announceWrongMeter(deps.events, device, device, {
      meterSerial: updated.meterSerial,
      lastReport: device.lastReport,
    });
    ctx.body = await detailOf(device.uuid);
  });

  const actions = [
    action({
      route: ROUTES.pinDevice,
      change: async (device, { release: wanted }, stamp) => {
        const release = await store.releases.find(device.fleet, wanted);
        if (!release)
          throw notFound(
            `fleet '${device.fleet}' of device '${device.uuid}' has no release with id or version '${wanted}'`,
          );
        if (release.status !== 'ready') {
          throw conflict(
            `release ${release.version} of fleet '${device.fleet}' is ${release.status}, not ready: the device cannot run it`,
          );
        }
        refuseUnapproved(release, `device '${device.uuid}'`);
        return store.devices.setPin(device.uuid, release.id, stamp);
      },
      logged: (d) => [{ uuid: d.uuid, release: d.pinnedReleaseId }, 'device pinned'],
    }),
    action({
      route: ROUTES.deviceTrackFleet,
      change: (device, _body, stamp) => store.devices.setPin(device.uuid, null, stamp),
      logged: (d) => [{ uuid: d.uuid }, 'device follows its fleet'],
    }),
    action({
      route: ROUTES.acceptDevice,
      change: async (device, _body, stamp) => {
        // Taking a revoked device back is no new device; admitting one that never was in is.
        if (device.authStatus === 'pending' || device.authStatus === 'preauthorized')
          refuseArchived(await fleetOr404(store.fleets, device.fleet), 'new devices');
        return store.devices.accept(device.uuid, stamp);
      },
      logged: (d) => [{ uuid: d.uuid, fleet: d.fleet }, 'device accepted'],
    }),
    action({
      route: ROUTES.rejectDevice,
      change: (device, _body, stamp) => store.devices.reject(device.uuid, stamp),
      logged: (d) => [{ uuid: d.uuid, fleet: d.fleet }, 'device rejected'],
    }),
    action({
      route: ROUTES.revokeDevice,
      change: (device, _body, stamp) => store.devices.revoke(device.uuid, stamp),
      logged: (d) => [{ uuid: d.uuid, fleet: d.fleet }, 'device revoked'],
    }),
  ];

  for (const { route, change, logged } of actions) {
    on(route, async (ctx, request) => {
      const device = await deviceNamed(store, request.params.uuid);
      const body = await request.body();
      const stamp = stampOf(ctx, deps.now);
      const after = changed(device.uuid, await change(device, body, stamp));
      logger.info(...logged(after));
      if (route === ROUTES.revokeDevice && device.revokedAt === null)
        publishDecommissioned(deps.events, after, stamp.actor);
      if (route === ROUTES.acceptDevice && device.authStatus !== 'accepted')
        publishRegistered(deps.events, after, `accepted by ${stamp.actor}`);
      ctx.body = await detailOf(device.uuid);
    });
  }
}

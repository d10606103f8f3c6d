// Devices as people see them: summaries per fleet, one device with the last state report it sent; and what
// operators do to one device: pin it to a release over its fleet's policy, let it follow its fleet again, rename
// it, revoke its key, accept it back.
import type Router from '@koa/router';
import { PinRequestSchema, UpdateDeviceRequestSchema, paths, type DeviceSummary } from '../../protocol/api.js';
import type { DeviceDetail } from '../../protocol/device-detail.js';
import { stampOf, type AccessControl, type ApiState } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import { summaryOf } from '../device-summary.js';
import { badRequest, conflict, notFound } from '../problem.js';
import { readBody } from '../request-body.js';
import type { DeviceRecord, DeviceView, Store } from '../store/index.js';
import { targetReleaseOf } from '../target-state.js';
import { EmptyBodySchema, fleetOr404 } from './fleets.js';

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
function summarizer(store: Store, now: Date): (device: DeviceView) => Promise<DeviceSummary> {
  const fleetOf = memo((name) => store.fleets.get(name));
  const releaseOf = memo((id) => store.releases.get(id));
  // What every device of a fleet without a pin of its own should run.
  const fleetTargetOf = memo(async (name) => {
    const fleet = await fleetOf(name);
    return fleet ? targetReleaseOf(store.releases, fleet, { pinnedReleaseId: null }) : null;
  });
  return async (device) => {
    const fleet = await fleetOf(device.fleet);
    // Devices reference their fleet by foreign key: a missing fleet is a broken database, not bad input.
    if (!fleet) throw new Error(`device '${device.uuid}' belongs to fleet '${device.fleet}', which does not exist`);
    const target = device.pinnedReleaseId === null
      ? await fleetTargetOf(fleet.name)
      : await targetReleaseOf(store.releases, fleet, device);
    const runningId = device.lastReport?.releaseId ?? null;
    const running = runningId === null ? null : await releaseOf(runningId);
    const pinned = device.pinnedReleaseId === null ? null : await releaseOf(device.pinnedReleaseId);
    return {
      ...summaryOf({
        device,
        fleet,
        targetVersion: target?.version ?? null,
        runningVersion: running && running.fleet === fleet.name ? running.version : null,
        now,
      }),
      pinnedRelease: pinned && pinned.fleet === fleet.name ? pinned.version : null,
      revokedAt: device.revokedAt,
      note: device.note,
      tags: device.tags,
    };
  };
}

async function deviceOr404(store: Store, uuid: string | undefined): Promise<DeviceView> {
  const device = uuid === undefined ? null : await store.devices.get(uuid);
  if (!device) throw notFound(`device '${uuid ?? ''}' is not registered`);
  return device;
}

/** A store change answered null: the device went away between the lookup and the change. */
function changed(uuid: string, device: DeviceRecord | null): DeviceRecord {
  if (!device) throw notFound(`device '${uuid}' is not registered`);
  return device;
}

export function deviceRoutes(router: Router<ApiState>, deps: RouteDeps, access: AccessControl): void {
  const { store, logger } = deps;

  const detailOf = async (uuid: string): Promise<DeviceDetail> => {
    const device = await deviceOr404(store, uuid);
    const summary = await summarizer(store, deps.now())(device);
    return { ...summary, lastReport: device.lastReport };
  };

  router.get(paths.devices, access.allow('read'), async (ctx) => {
    const { fleet: fleetName } = ctx.query;
    if (Array.isArray(fleetName)) throw badRequest('invalid-query', `${ctx.path} takes one fleet, not ${fleetName.length}`);
    if (fleetName !== undefined) await fleetOr404(store.fleets, fleetName);
    ctx.body = await Promise.all((await store.devices.list(fleetName)).map(summarizer(store, deps.now())));
  });

  router.get('/v1/devices/:uuid', access.allow('read'), async (ctx) => {
    ctx.body = await detailOf(ctx.params.uuid ?? '');
  });

  router.patch('/v1/devices/:uuid', access.allow('device.manage'), async (ctx) => {
    const device = await deviceOr404(store, ctx.params.uuid);
    const change = await readBody(ctx, UpdateDeviceRequestSchema, 'the device change');
    changed(device.uuid, await store.devices.update(device.uuid, change, stampOf(ctx, deps.now)));
    logger.info({ uuid: device.uuid, fields: Object.keys(change) }, 'device updated');
    ctx.body = await detailOf(device.uuid);
  });

  router.post('/v1/devices/:uuid/pin', access.allow('device.manage'), async (ctx) => {
    const device = await deviceOr404(store, ctx.params.uuid);
    const { release: wanted } = await readBody(ctx, PinRequestSchema, 'the pin request');
    const release = await store.releases.find(device.fleet, wanted);
    if (!release) throw notFound(`fleet '${device.fleet}' of device '${device.uuid}' has no release with id or version '${wanted}'`);
    if (release.status !== 'ready') {
      throw conflict(`release ${release.version} of fleet '${device.fleet}' is ${release.status}, not ready: the device cannot run it`);
    }
    changed(device.uuid, await store.devices.setPin(device.uuid, release.id, stampOf(ctx, deps.now)));
    logger.info({ uuid: device.uuid, release: release.id, version: release.version }, 'device pinned');
    ctx.body = await detailOf(device.uuid);
  });

  router.post('/v1/devices/:uuid/track-fleet', access.allow('device.manage'), async (ctx) => {
    const device = await deviceOr404(store, ctx.params.uuid);
    await readBody(ctx, EmptyBodySchema, 'the track-fleet request');
    changed(device.uuid, await store.devices.setPin(device.uuid, null, stampOf(ctx, deps.now)));
    logger.info({ uuid: device.uuid }, 'device follows its fleet');
    ctx.body = await detailOf(device.uuid);
  });

  router.post('/v1/devices/:uuid/revoke', access.allow('device.manage'), async (ctx) => {
    const device = await deviceOr404(store, ctx.params.uuid);
    await readBody(ctx, EmptyBodySchema, 'the revoke request');
    changed(device.uuid, await store.devices.revoke(device.uuid, stampOf(ctx, deps.now)));
    logger.warn({ uuid: device.uuid, fleet: device.fleet }, 'device revoked');
    ctx.body = await detailOf(device.uuid);
  });

  router.post('/v1/devices/:uuid/accept', access.allow('device.manage'), async (ctx) => {
    const device = await deviceOr404(store, ctx.params.uuid);
    await readBody(ctx, EmptyBodySchema, 'the accept request');
    changed(device.uuid, await store.devices.accept(device.uuid, stampOf(ctx, deps.now)));
    logger.info({ uuid: device.uuid, fleet: device.fleet }, 'revoked device accepted: it may register again');
    ctx.body = await detailOf(device.uuid);
  });
}

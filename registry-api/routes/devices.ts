// Devices as people see them: summaries per fleet, and one device with the last state report it sent.
import type Router from '@koa/router';
import type { DeviceSummary } from '../../protocol/api.js';
import type { DeviceDetail } from '../../protocol/device-detail.js';
import { requireAdmin, type ApiState } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import { summaryOf } from '../device-summary.js';
import { badRequest, notFound } from '../problem.js';
import type { DeviceView, Store } from '../store/index.js';
import { targetReleaseOf } from '../target-state.js';
import { fleetOr404 } from './fleets.js';

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
    return summaryOf({
      device,
      fleet,
      targetVersion: target?.version ?? null,
      runningVersion: running && running.fleet === fleet.name ? running.version : null,
      now,
    });
  };
}

export function deviceRoutes(router: Router<ApiState>, deps: RouteDeps): void {
  const { store } = deps;
  const admin = requireAdmin(deps.adminToken);

  router.get('/v1/devices', admin, async (ctx) => {
    const { fleet: fleetName } = ctx.query;
    if (Array.isArray(fleetName)) throw badRequest('invalid-query', `${ctx.path} takes one fleet, not ${fleetName.length}`);
    if (fleetName !== undefined) await fleetOr404(store.fleets, fleetName);
    ctx.body = await Promise.all((await store.devices.list(fleetName)).map(summarizer(store, deps.now())));
  });

  router.get('/v1/devices/:uuid', admin, async (ctx) => {
    const device = await store.devices.get(ctx.params.uuid ?? '');
    if (!device) throw notFound(`device '${ctx.params.uuid ?? ''}' is not registered`);
    const summary = await summarizer(store, deps.now())(device);
    ctx.body = { ...summary, lastReport: device.lastReport } satisfies DeviceDetail;
  });
}

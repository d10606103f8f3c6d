// A fleet's devices with the attributes selectors look at (protocol/device-selector.ts), filled by the same function
// as the device listing, saved groups and bulk operations (../devices/attributes.ts): a rollout picks the devices
// `skiff devices --filter` shows for the same selector.
import type { DeviceAttributes } from '../../protocol/device-selector.js';
import type { StateReport } from '../../protocol/state-report.js';
import { attributesOf } from '../devices/attributes.js';
import { isOnline } from '../devices/summary.js';
import type { FleetRecord, Store } from '../store/index.js';

export interface FleetDevice {
  attributes: DeviceAttributes;
  pinnedReleaseId: string | null;
  report: StateReport | null;
}

/** The fleet's admitted devices (accepted, not revoked), in uuid order. */
export async function fleetDevicesOf(
  store: Pick<Store, 'devices' | 'releases'>,
  fleet: FleetRecord,
  now: Date,
): Promise<FleetDevice[]> {
  const [devices, releases] = await Promise.all([
    store.devices.list({ fleet: fleet.name, status: 'accepted' }),
    store.releases.list(fleet.name),
  ]);
  const byId = new Map(releases.map((release) => [release.id, release]));
  return devices
    .filter((device) => device.revokedAt === null)
    .sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0))
    .map((device) => {
      const report = device.lastReport;
      const running = report?.releaseId == null ? null : (byId.get(report.releaseId) ?? null);
      const online = isOnline(device.lastSeen, fleet.pollIntervalSeconds, now);
      return {
        attributes: attributesOf(device, report, online, running),
        pinnedReleaseId: device.pinnedReleaseId,
        report,
      };
    });
}

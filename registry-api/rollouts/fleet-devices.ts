// A fleet's devices with the attributes selectors look at (protocol/device-selector.ts): the one place rollouts read
// them, so a shared reader of device attributes can take its place without touching the rollout logic.
import type { DeviceAttributes } from '../../protocol/device-selector.js';
import type { StateReport } from '../../protocol/state-report.js';
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
  const versions = new Map(releases.map((release) => [release.id, release.version]));
  return devices
    .filter((device) => device.revokedAt === null)
    .sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0))
    .map((device) => {
      const report = device.lastReport;
      const releaseId = report?.releaseId ?? null;
      return {
        attributes: {
          uuid: device.uuid,
          shortId: device.shortId,
          name: device.name,
          fleet: device.fleet,
          deviceType: device.deviceType,
          osVersion: report?.osVersion ?? report?.hostOs?.version ?? null,
          releaseVersion: releaseId === null ? null : (versions.get(releaseId) ?? null),
          releaseId,
          tags: device.tags,
          customer: device.customer,
          site: device.site,
          online: isOnline(device.lastSeen, fleet.pollIntervalSeconds, now),
          updateStatus: report?.updateStatus ?? null,
        },
        pinnedReleaseId: device.pinnedReleaseId,
        report,
      };
    });
}

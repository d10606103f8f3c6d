// What a device should run, computed from stored facts only (its pin, its fleet's policy and config, the
// releases), so the same facts always give the same target state and the same ETag.
import { DEFAULT_DEVICE_CONFIG, type TargetState } from '../protocol/target-state.js';
import type { DeviceRecord, FleetRecord, ReleaseRecord, ReleaseStore } from './store/index.js';

/** The device's own pin, else its fleet's pin, else the fleet's newest ready release; null if there is none. */
export async function targetReleaseOf(
  releases: ReleaseStore, fleet: FleetRecord, device: Pick<DeviceRecord, 'pinnedReleaseId'>,
): Promise<ReleaseRecord | null> {
  if (device.pinnedReleaseId !== null) {
    const pinned = await releases.get(device.pinnedReleaseId);
    // A pin to a release of another fleet (the device moved) no longer applies.
    if (pinned && pinned.fleet === fleet.name) return pinned;
  }
  if (fleet.policy.mode === 'pinned') return releases.get(fleet.policy.releaseId);
  return releases.latestReady(fleet.name);
}

export function targetStateOf(device: DeviceRecord, fleet: FleetRecord, release: ReleaseRecord | null): TargetState {
  return {
    schemaVersion: 1,
    device: { uuid: device.uuid, name: device.name },
    fleet: { name: fleet.name },
    release: release ? { id: release.id, version: release.version } : null,
    services: release?.services ?? [],
    volumes: release?.volumes ?? [],
    networks: release?.networks ?? [],
    config: {
      ...DEFAULT_DEVICE_CONFIG,
      pollIntervalSeconds: fleet.pollIntervalSeconds,
      env: {},
    },
  };
}

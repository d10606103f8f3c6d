// Stored records as the protocol shows them.
import type { Fleet, Release } from '../protocol/api.js';
import type { FleetRecord, ReleaseRecord } from './store/index.js';

export function fleetView(fleet: FleetRecord): Fleet {
  return {
    name: fleet.name,
    deviceType: fleet.deviceType,
    provisioningKey: fleet.provisioningKey,
    releasePolicy: fleet.policy,
    pollIntervalSeconds: fleet.pollIntervalSeconds,
    createdAt: fleet.createdAt,
  };
}

export function releaseView(release: ReleaseRecord): Release {
  return {
    id: release.id,
    fleet: release.fleet,
    version: release.version,
    status: release.status,
    services: release.services.map((s) => s.name),
    images: release.images,
    notes: release.notes,
    createdAt: release.createdAt,
  };
}

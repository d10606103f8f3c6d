// Stored records as the protocol shows them.
import type { Fleet, Release } from '../../protocol/api.js';
import { platformsOf } from '../../protocol/device-types.js';
import type { FleetSettings } from '../../protocol/fleet-config.js';
import type { FleetRecord, ReleaseRecord } from '../store/index.js';

export function fleetView(fleet: FleetRecord): Fleet {
  return {
    name: fleet.name,
    deviceType: fleet.deviceType,
    deviceTypes: fleet.deviceTypes,
    platforms: platformsOf(fleet.deviceTypes),
    // Kept hashed (store/provisioning-keys.ts): only the answer that creates the fleet carries its first key.
    provisioningKey: '',
    releasePolicy: fleet.policy,
    pollIntervalSeconds: fleet.pollIntervalSeconds,
    createdAt: fleet.createdAt,
    settings: fleetSettingsOf(fleet),
    review: fleet.review,
    archivedAt: fleet.archivedAt,
  };
}

/** The fleet's settings with the defaults filled in for what it does not set. */
export function fleetSettingsOf(fleet: FleetRecord): FleetSettings {
  const s = fleet.settings;
  return {
    updateWindow: s.updateWindow ?? null,
    bandwidthCapBytesPerSecond: s.bandwidthCapBytesPerSecond ?? null,
    bandwidthSchedule: s.bandwidthSchedule ?? [],
    forceUpdateUntil: s.forceUpdateUntil ?? null,
    overrideLocks: s.overrideLocks ?? false,
    ...(s.metricsIntervalSeconds === undefined ? {} : { metricsIntervalSeconds: s.metricsIntervalSeconds }),
    ...(s.dataBudgetBytesPerMonth === undefined ? {} : { dataBudgetBytesPerMonth: s.dataBudgetBytesPerMonth }),
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
    pushedBy: release.pushedBy,
    verification: release.verification,
    sources: release.sources,
    signedBy: release.signature?.keyId ?? null,
    review: release.review,
    platforms: release.platforms,
  };
}

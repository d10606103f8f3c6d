// What a device should run, computed from stored facts only (its pin, its fleet's policy, settings and config
// vars, its own settings and vars, the releases), so the same facts always give the same target state and the
// same ETag. Optional config fields appear only when set: a fleet that never used them keeps its old ETags.
import type { ConfigVars, Settings } from '../../protocol/fleet-config.js';
import { osPaths } from '../../protocol/http/paths.js';
import {
  DEFAULT_DEVICE_CONFIG,
  type DeviceConfig,
  type HostOsRelease,
  type TargetState,
} from '../../protocol/target-state.js';
import type {
  ConfigStore,
  DeviceRecord,
  FleetRecord,
  OsReleaseRecord,
  OsReleaseStore,
  ReleaseRecord,
  ReleaseStore,
} from '../store/index.js';

/** The reads a target needs; a caller computing many targets at once may hand in caching ones. */
export interface TargetSources {
  releases: ReleaseReads;
  config: Pick<ConfigStore, 'vars' | 'deviceSettings'>;
  osReleases: Pick<OsReleaseStore, 'targetFor'>;
}

/** The host OS part of a device's target: the pinned bundle, downloaded from the device's own bundle route. */
export function hostOsOf(device: Pick<DeviceRecord, 'uuid'>, release: OsReleaseRecord): HostOsRelease {
  return {
    version: release.version,
    digest: release.digest,
    size: release.size,
    url: osPaths.bundle(device.uuid, release.id),
  };
}

/** The release reads choosing a device's release takes. */
export type ReleaseReads = Pick<ReleaseStore, 'get' | 'latestReady' | 'latestReadyFor'>;

/** The release a device should run, and why it is not its pin's or fleet's release when it is not. */
export interface ReleaseChoice {
  release: ReleaseRecord | null;
  /** Null when the device gets the release its pin or fleet names. */
  heldBack: string | null;
}

/** The device's own pin, else its fleet's pin, else the fleet's newest ready release; null if there is none. */
function namedReleaseOf(
  releases: ReleaseReads,
  fleet: FleetRecord,
  device: Pick<DeviceRecord, 'pinnedReleaseId'>,
): Promise<ReleaseRecord | null> {
  return (async () => {
    if (device.pinnedReleaseId !== null) {
      const pinned = await releases.get(device.pinnedReleaseId);
      // A pin to a release of another fleet (the device moved) no longer applies.
      if (pinned && pinned.fleet === fleet.name) return pinned;
    }
    if (fleet.policy.mode === 'pinned') return releases.get(fleet.policy.releaseId);
    return releases.latestReady(fleet.name);
  })();
}

/** Whether a device of `platform` can run `release` (unknown either way: it is not kept from it). */
export function runsRelease(release: Pick<ReleaseRecord, 'platforms'>, platform: string | null): boolean {
  return platform === null || release.platforms === null || release.platforms.includes(platform);
}

/**
 * What the device runs: the release its pin or fleet names, unless that release has no image for the device's
 * platform. Then the device keeps the newest ready release it can run (the one it runs, as releases only ever move
 * forward, or none), and `heldBack` says why, for the device's detail.
 */
export async function releaseChoiceOf(
  releases: ReleaseReads,
  fleet: FleetRecord,
  device: Pick<DeviceRecord, 'pinnedReleaseId'> & { platform?: string | null },
): Promise<ReleaseChoice> {
  const named = await namedReleaseOf(releases, fleet, device);
  const platform = device.platform ?? null;
  if (named === null || platform === null || runsRelease(named, platform)) return { release: named, heldBack: null };
  const kept = await releases.latestReadyFor(fleet.name, platform);
  const has = named.platforms === null || named.platforms.length === 0 ? 'none' : named.platforms.join(', ');
  return {
    release: kept,
    heldBack: `release ${named.version} has no image for this device's platform ${platform} (it has ${has}); the device keeps ${kept === null ? 'no release' : `release ${kept.version}`}`,
  };
}

/** The release a device should run (releaseChoiceOf without the reason). */
export async function targetReleaseOf(
  releases: ReleaseReads,
  fleet: FleetRecord,
  device: Pick<DeviceRecord, 'pinnedReleaseId'> & { platform?: string | null },
): Promise<ReleaseRecord | null> {
  return (await releaseChoiceOf(releases, fleet, device)).release;
}

/** Keys in name order, so the same vars always serialise the same way (canonical JSON sorts too; logs do not). */
function sortedVars(vars: ConfigVars): ConfigVars {
  return Object.fromEntries(Object.entries(vars).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export interface ConfigLayers {
  fleet: FleetRecord;
  fleetVars: ConfigVars;
  /** What the device overrides of its fleet's settings. */
  deviceSettings: Settings;
  deviceVars: ConfigVars;
}

/** Defaults, overridden by the fleet, overridden by the device: field by field, var by var. */
export function deviceConfigOf({ fleet, fleetVars, deviceSettings, deviceVars }: ConfigLayers): DeviceConfig {
  const merged: Settings = { pollIntervalSeconds: fleet.pollIntervalSeconds, ...fleet.settings, ...deviceSettings };
  const config: DeviceConfig = {
    pollIntervalSeconds: merged.pollIntervalSeconds ?? DEFAULT_DEVICE_CONFIG.pollIntervalSeconds,
    updateWindow: merged.updateWindow ?? DEFAULT_DEVICE_CONFIG.updateWindow,
    bandwidthCapBytesPerSecond: merged.bandwidthCapBytesPerSecond ?? DEFAULT_DEVICE_CONFIG.bandwidthCapBytesPerSecond,
    env: sortedVars({ ...fleetVars, ...deviceVars }),
  };
  if (merged.bandwidthSchedule !== undefined && merged.bandwidthSchedule.length > 0)
    config.bandwidthSchedule = merged.bandwidthSchedule;
  if (merged.forceUpdateUntil !== undefined && merged.forceUpdateUntil !== null)
    config.forceUpdateUntil = merged.forceUpdateUntil;
  if (merged.overrideLocks === true) config.overrideLocks = true;
  return config;
}

export async function deviceConfigFor(
  config: TargetSources['config'],
  device: Pick<DeviceRecord, 'uuid'>,
  fleet: FleetRecord,
): Promise<DeviceConfig> {
  const [fleetVars, deviceSettings, deviceVars] = await Promise.all([
    config.vars({ fleet: fleet.name }),
    config.deviceSettings(device.uuid),
    config.vars({ device: device.uuid }),
  ]);
  return deviceConfigOf({ fleet, fleetVars, deviceSettings, deviceVars });
}

export function targetStateOf(
  device: DeviceRecord,
  fleet: FleetRecord,
  release: ReleaseRecord | null,
  config: DeviceConfig,
  hostOs: OsReleaseRecord | null = null,
): TargetState {
  // Absent when unpinned, so fleets without host OS updates keep their ETags.
  const os = hostOs === null ? {} : { hostOs: hostOsOf(device, hostOs) };
  return {
    schemaVersion: 1,
    device: { uuid: device.uuid, name: device.name },
    fleet: { name: fleet.name },
    release: release ? { id: release.id, version: release.version } : null,
    services: release?.services ?? [],
    volumes: release?.volumes ?? [],
    networks: release?.networks ?? [],
    config,
    ...os,
  };
}

/** The target GET /v1/device/{uuid}/target serves, and what anything comparing ETags must compute. */
export async function targetFor(
  sources: TargetSources,
  device: DeviceRecord,
  fleet: FleetRecord,
): Promise<TargetState> {
  const [release, config, hostOs] = await Promise.all([
    targetReleaseOf(sources.releases, fleet, device),
    deviceConfigFor(sources.config, device, fleet),
    sources.osReleases.targetFor(device),
  ]);
  return targetStateOf(device, fleet, release, config, hostOs);
}

// What a device should run, computed from stored facts only (its pin, its fleet's policy, settings and config
// vars, its own settings and vars, the releases), so the same facts always give the same target state and the
// same ETag. Optional config fields appear only when set: a fleet that never used them keeps its old ETags.
import type { ConfigVars, ServiceVars, Settings } from '../../protocol/fleet-config.js';
import { osPaths } from '../../protocol/http/paths.js';
import { approvalAllowsDevices } from '../../protocol/release-review.js';
import {
  DEFAULT_DEVICE_CONFIG,
  type DeviceConfig,
  type HostOsRelease,
  type ReleaseRef,
  type TargetState,
  type TunnelTarget,
} from '../../protocol/target-state.js';
import type {
  ConfigStore,
  DeviceRecord,
  FleetRecord,
  OsReleaseRecord,
  OsReleaseStore,
  ReleaseKeyStore,
  ReleaseRecord,
  ReleaseStore,
} from '../store/index.js';
import type { SignedKeySet } from '../../protocol/release-signature.js';
import type { RolloutStore } from '../rollouts/store.js';
import { byCodePoint } from '../../lib/code-point-order.js';

/** The reads a target needs; a caller computing many targets at once may hand in caching ones. */
export interface TargetSources {
  releases: ReleaseReads;
  config: Pick<ConfigStore, 'vars' | 'serviceVars' | 'deviceSettings'>;
  osReleases: Pick<OsReleaseStore, 'targetFor'>;
  releaseKeys: Pick<ReleaseKeyStore, 'get'>;
  /** What rollouts say the device runs; absent: no rollout is consulted (its fleet's policy decides). */
  rollouts?: Pick<RolloutStore, 'targetOf'>;
  /** The device's reverse SSH tunnel (../remote-access/); absent: the API has no jump host. */
  tunnel?: (device: DeviceRecord) => Promise<TunnelTarget | null>;
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

/**
 * The device's own pin, else what the newest rollout covering it says (`rolloutReleaseId`: the rollout's release
 * once it was assigned, else the release it had before), else its fleet's pin, else the fleet's newest ready
 * release; null if there is none. A release waiting for approval (or rejected) is never a device's target: the pin
 * routes refuse one and latestReady skips it, and a pin found on one anyway is passed over like a pin to another
 * fleet.
 */
function namedReleaseOf(
  releases: ReleaseReads,
  fleet: FleetRecord,
  device: Pick<DeviceRecord, 'pinnedReleaseId'>,
  rolloutReleaseId: string | null,
): Promise<ReleaseRecord | null> {
  return (async () => {
    for (const id of [device.pinnedReleaseId, rolloutReleaseId]) {
      if (id === null) continue;
      const named = await releases.get(id);
      // A pin to a release of another fleet (the device moved) no longer applies.
      if (named && named.fleet === fleet.name && approvalAllowsDevices(named.review.approval)) return named;
    }
    if (fleet.policy.mode === 'pinned') {
      const pinned = await releases.get(fleet.policy.releaseId);
      if (pinned === null || approvalAllowsDevices(pinned.review.approval)) return pinned;
    }
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
  rolloutReleaseId: string | null = null,
): Promise<ReleaseChoice> {
  const named = await namedReleaseOf(releases, fleet, device, rolloutReleaseId);
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
  rolloutReleaseId: string | null = null,
): Promise<ReleaseRecord | null> {
  return (await releaseChoiceOf(releases, fleet, device, rolloutReleaseId)).release;
}

/** Keys in name order, so the same vars always serialise the same way (canonical JSON sorts too; logs do not). */
function sortedVars(vars: ConfigVars): ConfigVars {
  return Object.fromEntries(Object.entries(vars).sort(([a], [b]) => byCodePoint(a, b)));
}

export interface ConfigLayers {
  fleet: FleetRecord;
  fleetVars: ConfigVars;
  /** What the device overrides of its fleet's settings. */
  deviceSettings: Settings;
  deviceVars: ConfigVars;
  /** Vars scoped to one service, the fleet's and the device's. */
  fleetServiceVars?: ServiceVars;
  deviceServiceVars?: ServiceVars;
}

/**
 * Per service, the vars scoped to it that its environment gets beyond `env`: fleet service vars (unless the
 * device's unscoped var of that name wins), then device service vars. Services without any are left out.
 */
function serviceEnvOf(
  env: ConfigVars,
  deviceVars: ConfigVars,
  fleetServiceVars: ServiceVars,
  deviceServiceVars: ServiceVars,
): Record<string, ConfigVars> {
  const services = [...new Set([...Object.keys(fleetServiceVars), ...Object.keys(deviceServiceVars)])].sort();
  const result: Record<string, ConfigVars> = {};
  for (const service of services) {
    const fromFleet = Object.entries(fleetServiceVars[service] ?? {}).filter(([name]) => !(name in deviceVars));
    const merged: ConfigVars = { ...Object.fromEntries(fromFleet), ...deviceServiceVars[service] };
    // Only what differs from what every service gets: a scoped var equal to it changes nothing.
    const extra = Object.entries(merged).filter(([name, value]) => env[name] !== value);
    if (extra.length > 0) result[service] = sortedVars(Object.fromEntries(extra));
  }
  return result;
}

/** Defaults, overridden by the fleet, overridden by the device: field by field, var by var. */
export function deviceConfigOf({
  fleet,
  fleetVars,
  deviceSettings,
  deviceVars,
  fleetServiceVars = {},
  deviceServiceVars = {},
}: ConfigLayers): DeviceConfig {
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
  // Absent unless set, so targets of fleets without them keep their exact form.
  if (merged.metricsIntervalSeconds !== undefined) config.metricsIntervalSeconds = merged.metricsIntervalSeconds;
  if (merged.dataBudgetBytesPerMonth !== undefined && merged.dataBudgetBytesPerMonth !== null)
    config.dataBudgetBytesPerMonth = merged.dataBudgetBytesPerMonth;
  const serviceEnv = serviceEnvOf(config.env, deviceVars, fleetServiceVars, deviceServiceVars);
  if (Object.keys(serviceEnv).length > 0) config.serviceEnv = serviceEnv;
  return config;
}

export async function deviceConfigFor(
  config: TargetSources['config'],
  device: Pick<DeviceRecord, 'uuid'>,
  fleet: FleetRecord,
): Promise<DeviceConfig> {
  const [fleetVars, deviceSettings, deviceVars, fleetServiceVars, deviceServiceVars] = await Promise.all([
    config.vars({ fleet: fleet.name }),
    config.deviceSettings(device.uuid),
    config.vars({ device: device.uuid }),
    config.serviceVars({ fleet: fleet.name }),
    config.serviceVars({ device: device.uuid }),
  ]);
  return deviceConfigOf({ fleet, fleetVars, deviceSettings, deviceVars, fleetServiceVars, deviceServiceVars });
}

function releaseRefOf(release: ReleaseRecord): ReleaseRef {
  const ref: ReleaseRef = { id: release.id, version: release.version };
  // Absent when unsigned, so fleets without release keys keep their ETags.
  if (release.signature !== null) ref.signature = release.signature;
  return ref;
}

export function targetStateOf(
  device: DeviceRecord,
  fleet: FleetRecord,
  release: ReleaseRecord | null,
  config: DeviceConfig,
  hostOs: OsReleaseRecord | null = null,
  releaseKeys: SignedKeySet | null = null,
  tunnel: TunnelTarget | null = null,
): TargetState {
  // Absent when unpinned, so fleets without host OS updates keep their ETags.
  const os = hostOs === null ? {} : { hostOs: hostOsOf(device, hostOs) };
  // Absent while the fleet has none, so fleets without release keys keep their ETags.
  const keys = releaseKeys === null ? {} : { releaseKeys };
  return {
    schemaVersion: 1,
    device: { uuid: device.uuid, name: device.name },
    fleet: { name: fleet.name },
    // The developer's signature rides along untouched; `services`, `volumes` and `networks` below are what it covers.
    release: release ? releaseRefOf(release) : null,
    services: release?.services ?? [],
    volumes: release?.volumes ?? [],
    networks: release?.networks ?? [],
    // Only when the release has them, so targets of releases without stay byte for byte (and keep their ETags).
    ...(release?.networkDefinitions === undefined ? {} : { networkDefinitions: release.networkDefinitions }),
    ...(release?.volumeDefinitions === undefined ? {} : { volumeDefinitions: release.volumeDefinitions }),
    config,
    ...os,
    ...keys,
    // Absent while the device has no tunnel, so every other device keeps its ETags.
    ...(tunnel === null ? {} : { tunnel }),
  };
}

/** The target GET /v1/device/{uuid}/target serves, and what anything comparing ETags must compute. */
export async function targetFor(
  sources: TargetSources,
  device: DeviceRecord,
  fleet: FleetRecord,
): Promise<TargetState> {
  const rollout = (await sources.rollouts?.targetOf(device.uuid)) ?? null;
  const [release, config, hostOs, releaseKeys, tunnel] = await Promise.all([
    targetReleaseOf(sources.releases, fleet, device, rollout?.releaseId ?? null),
    deviceConfigFor(sources.config, device, fleet),
    sources.osReleases.targetFor(device),
    sources.releaseKeys.get(fleet.name),
    sources.tunnel?.(device) ?? null,
  ]);
  return targetStateOf(device, fleet, release, config, hostOs, releaseKeys, tunnel);
}

// How one service of a target becomes engine create options, and the hash that says whether a container
// still matches them. Pure: the same target always gives the same options, names and hashes.
import type { ServiceSpec, TargetState, VolumeMount, PortMapping } from '../../protocol/target-state.js';
import { canonicalJson, sha256Hex } from '../../protocol/canonical-json.js';
import type { ContainerCreateOptions } from './create-options.js';
import { DEFAULT_NETWORK, LABELS, containerName, networkName, volumeName } from './naming.js';
import { LOCK_DIR_IN_CONTAINER, lockDir } from './lock-paths.js';
import { handoverTimeoutSeconds, updateStrategy, type UpdateStrategy } from './update-strategy.js';

export type DependencyCondition = ServiceSpec['dependsOn'][string];
export type RestartPolicy = ServiceSpec['restart'];

/** What the engine must run for one service. */
export interface DesiredContainer {
  service: string;
  /** Engine container name; contains the config hash. */
  name: string;
  image: string;
  configHash: string;
  options: ContainerCreateOptions;
  /** Engine names of the managed networks the container must be attached to. */
  networks: string[];
  dependsOn: Record<string, DependencyCondition>;
  restart: RestartPolicy;
  strategy: UpdateStrategy;
  handoverTimeoutSeconds: number;
}

/** Facts of the device (not of the release) that go into create options. */
export interface HostContext {
  /** Host directory holding one update-lock directory per service; without it containers get no lock mount. */
  lockRoot?: string;
}

/** Docker's own default, used when a service sets no stop grace period. */
export const DEFAULT_STOP_TIMEOUT_SECONDS = 10;

const NANOS_PER_SECOND = 1e9;
/** The engine counts CPU quota in billionths of a CPU. */
const NANO_CPUS_PER_CPU = 1e9;

function seconds(value: number | undefined): number | undefined {
  return value === undefined ? undefined : Math.round(value * NANOS_PER_SECOND);
}

/**
 * Service environment, then the device's config vars (an operator override of what the release ships), those of
 * every service and then those scoped to this one, then the variables Skiff injects, which nothing may shadow.
 * Sorted so the hash does not depend on key order: a var scoped to one service changes that service's hash only.
 */
function environment(spec: ServiceSpec, target: TargetState): string[] {
  const env: Record<string, string> = {
    ...spec.environment,
    ...target.config.env,
    ...target.config.serviceEnv?.[spec.name],
    SKIFF_DEVICE_UUID: target.device.uuid,
    SKIFF_FLEET_NAME: target.fleet.name,
    SKIFF_SERVICE_NAME: spec.name,
    SKIFF_LOCK_DIR: LOCK_DIR_IN_CONTAINER,
  };
  return Object.keys(env)
    .sort()
    .map((k) => `${k}=${env[k] ?? ''}`);
}

function portKey(port: PortMapping): string {
  return `${port.target}/${port.protocol}`;
}

interface PortBinding {
  HostIp: string;
  HostPort: string;
}

function ports(spec: ServiceSpec): {
  ExposedPorts: Record<string, Record<string, never>>;
  PortBindings: Record<string, PortBinding[]>;
} {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, PortBinding[]> = {};
  for (const port of spec.ports) {
    const key = portKey(port);
    exposed[key] = {};
    (bindings[key] ??= []).push({
      HostIp: port.hostIp ?? '',
      // An empty host port lets the engine pick one, as compose does for a port without `published`.
      HostPort: port.published === undefined ? '' : String(port.published),
    });
  }
  return { ExposedPorts: exposed, PortBindings: bindings };
}

/** An empty Source means an anonymous volume, or (for tmpfs) no source at all, which is what the engine wants. */
interface EngineMount {
  Type: 'volume' | 'tmpfs';
  Source: string;
  Target: string;
  ReadOnly: boolean;
}

function mounts(volumes: VolumeMount[]): { Binds: string[]; Mounts: EngineMount[] } {
  const binds: string[] = [];
  const engineMounts: EngineMount[] = [];
  for (const v of volumes) {
    if (v.type === 'bind') {
      // Binds (not Mounts) so a missing host directory is created, like compose's short syntax does.
      binds.push(`${v.source ?? ''}:${v.target}${v.readOnly ? ':ro' : ''}`);
    } else if (v.type === 'volume') {
      const source = v.source === undefined ? '' : volumeName(v.source);
      engineMounts.push({ Type: 'volume', Source: source, Target: v.target, ReadOnly: v.readOnly });
    } else {
      engineMounts.push({ Type: 'tmpfs', Source: '', Target: v.target, ReadOnly: v.readOnly });
    }
  }
  return { Binds: binds, Mounts: engineMounts };
}

function devices(spec: ServiceSpec): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string }[] {
  return spec.devices.map((d) => {
    const [host = d, inContainer, permissions] = d.split(':');
    return { PathOnHost: host, PathInContainer: inContainer ?? host, CgroupPermissions: permissions ?? 'rwm' };
  });
}

/** Compose names of the networks a service joins: its own list, or the default network. */
export function serviceNetworks(spec: ServiceSpec): string[] {
  if (spec.networkMode !== undefined) return [];
  const named = Object.keys(spec.networks).sort();
  return named.length > 0 ? named : [DEFAULT_NETWORK];
}

function endpoints(spec: ServiceSpec): Record<string, { Aliases: string[] }> {
  const result: Record<string, { Aliases: string[] }> = {};
  for (const network of serviceNetworks(spec)) {
    // Like compose, the service name is an alias on every network, so services find each other by name.
    const aliases = [spec.name, ...(spec.networks[network]?.aliases ?? [])];
    result[networkName(network)] = { Aliases: [...new Set(aliases)] };
  }
  return result;
}

function healthcheck(spec: ServiceSpec): ContainerCreateOptions['Healthcheck'] {
  const h = spec.healthcheck;
  if (h === undefined) return undefined;
  return {
    Test: h.test,
    Interval: seconds(h.intervalSeconds),
    Timeout: seconds(h.timeoutSeconds),
    Retries: h.retries,
    StartPeriod: seconds(h.startPeriodSeconds),
  };
}

/** Create options without the labels that must not influence the hash (release id, the hash itself). */
function hashedOptions(spec: ServiceSpec, target: TargetState): ContainerCreateOptions {
  const networks = endpoints(spec);
  const { ExposedPorts, PortBindings } = ports(spec);
  const { Binds, Mounts } = mounts(spec.volumes);
  return {
    Image: spec.image,
    Cmd: spec.command,
    Entrypoint: spec.entrypoint,
    Env: environment(spec, target),
    Labels: {
      ...spec.labels,
      [LABELS.managed]: 'true',
      [LABELS.fleet]: target.fleet.name,
      [LABELS.service]: spec.name,
    },
    WorkingDir: spec.workingDir,
    User: spec.user,
    Hostname: spec.hostname,
    StopSignal: spec.stopSignal,
    StopTimeout: spec.stopGracePeriodSeconds === undefined ? undefined : Math.ceil(spec.stopGracePeriodSeconds),
    Healthcheck: healthcheck(spec),
    ExposedPorts,
    HostConfig: {
      Binds,
      Mounts,
      PortBindings,
      RestartPolicy:
        spec.restartMaxRetries === undefined
          ? { Name: spec.restart }
          : { Name: spec.restart, MaximumRetryCount: spec.restartMaxRetries },
      Privileged: spec.privileged,
      Devices: devices(spec),
      NetworkMode: spec.networkMode ?? Object.keys(networks)[0],
      // Each absent in the spec stays undefined, which the hash leaves out: services that do not use these fields
      // keep the hash they had before the fields existed, and are not recreated by a supervisor update.
      Tmpfs: spec.tmpfs,
      CapAdd: spec.capAdd,
      CapDrop: spec.capDrop,
      ExtraHosts: spec.extraHosts,
      Dns: spec.dns,
      Init: spec.init,
      ShmSize: spec.shmSizeBytes,
      ReadonlyRootfs: spec.readOnly,
      SecurityOpt: spec.securityOpt,
      Sysctls: spec.sysctls,
      Ulimits: spec.ulimits?.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
      Memory: spec.memoryBytes,
      NanoCpus: spec.cpus === undefined ? undefined : Math.round(spec.cpus * NANO_CPUS_PER_CPU),
      LogConfig:
        spec.logging === undefined ? undefined : { Type: spec.logging.driver ?? '', Config: spec.logging.options },
    },
    NetworkingConfig: { EndpointsConfig: networks },
  };
}

export function desiredContainer(spec: ServiceSpec, target: TargetState, host: HostContext = {}): DesiredContainer {
  const options = hashedOptions(spec, target);
  const configHash = sha256Hex(canonicalJson(options));
  options.Labels = {
    ...options.Labels,
    [LABELS.release]: target.release?.id ?? '',
    [LABELS.configHash]: configHash,
  };
  if (host.lockRoot !== undefined && options.HostConfig !== undefined) {
    // Outside the hash: where the device keeps its lock directories is no part of the release's definition.
    options.HostConfig.Binds = [
      ...(options.HostConfig.Binds ?? []),
      `${lockDir(host.lockRoot, spec.name)}:${LOCK_DIR_IN_CONTAINER}`,
    ];
  }
  return {
    service: spec.name,
    name: containerName(spec.name, configHash),
    image: spec.image,
    configHash,
    options,
    networks: serviceNetworks(spec).map(networkName),
    dependsOn: spec.dependsOn,
    restart: spec.restart,
    strategy: updateStrategy(spec),
    handoverTimeoutSeconds: handoverTimeoutSeconds(spec),
  };
}

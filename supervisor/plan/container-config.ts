// How one service of a target becomes engine create options, and the hash that says whether a container
// still matches them. Pure: the same target always gives the same options, names and hashes.
import type { ServiceSpec, TargetState, PortMapping } from '../../protocol/target-state.js';
import { canonicalJson, sha256Hex } from '../../protocol/canonical-json.js';
import type { ContainerCreateOptions, MountConfig } from './create-options.js';
import { LABELS, anonymousVolumeName, containerName, engineName, volumeName } from './naming.js';
import {
  endpoints,
  engineNetworkName,
  legacyLinks,
  networkMode,
  peerName,
  serviceNetworks,
  type Peers,
} from './container-networking.js';
import { LOCK_DIR_IN_CONTAINER, lockDir } from './lock-paths.js';
import { releaseFileBinds } from './release-file-paths.js';
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
  /** Host directory the release's files are written into (../images/release-files.ts). */
  filesRoot?: string;
  /** Host directory holding each service's persistent state folders. */
  stateRoot?: string;
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

function mounts(spec: ServiceSpec, target: TargetState): { Binds: string[]; Mounts: MountConfig[] } {
  const binds: string[] = [];
  const engineMounts: MountConfig[] = [];
  for (const v of spec.volumes) {
    if (v.type === 'bind' && v.requireHostPath !== true) {
      // Binds (not Mounts) so a missing host directory is created, as compose v2 does unless create_host_path is
      // false; propagation goes with the mode, as the engine reads it there.
      const mode = [...(v.readOnly ? ['ro'] : []), ...(v.propagation === undefined ? [] : [v.propagation])];
      binds.push(`${v.source ?? ''}:${v.target}${mode.length > 0 ? `:${mode.join(',')}` : ''}`);
    } else if (v.type === 'bind') {
      engineMounts.push({
        Type: 'bind',
        Source: v.source ?? '',
        Target: v.target,
        ReadOnly: v.readOnly,
        ...(v.propagation === undefined ? {} : { BindOptions: { Propagation: v.propagation } }),
      });
    } else if (v.type === 'volume') {
      const source =
        v.source === undefined
          ? anonymousVolumeName(spec.name, sha256Hex(v.target))
          : engineName(v.source, target.volumeDefinitions?.[v.source], volumeName);
      engineMounts.push({
        Type: 'volume',
        Source: source,
        Target: v.target,
        ReadOnly: v.readOnly,
        ...(v.noCopy === true ? { VolumeOptions: { NoCopy: true } } : {}),
      });
    } else {
      const options = {
        ...(v.tmpfsSizeBytes === undefined ? {} : { SizeBytes: v.tmpfsSizeBytes }),
        ...(v.tmpfsMode === undefined ? {} : { Mode: v.tmpfsMode }),
      };
      engineMounts.push({
        Type: 'tmpfs',
        Source: '',
        Target: v.target,
        ReadOnly: v.readOnly,
        ...(Object.keys(options).length > 0 ? { TmpfsOptions: options } : {}),
      });
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

export { serviceNetworks };

function healthcheck(spec: ServiceSpec): ContainerCreateOptions['Healthcheck'] {
  const h = spec.healthcheck;
  if (h === undefined) return undefined;
  return {
    ...(h.test === undefined ? {} : { Test: h.test }),
    Interval: seconds(h.intervalSeconds),
    Timeout: seconds(h.timeoutSeconds),
    Retries: h.retries,
    StartPeriod: seconds(h.startPeriodSeconds),
  };
}

/** Create options without the labels that must not influence the hash (release id, the hash itself). */
function hashedOptions(spec: ServiceSpec, target: TargetState, peers: Peers): ContainerCreateOptions {
  const networks = endpoints(spec, target, peers);
  const { ExposedPorts, PortBindings } = ports(spec);
  for (const port of spec.expose ?? []) ExposedPorts[port] = {};
  const { Binds, Mounts } = mounts(spec, target);
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
      // The names carry the config hashes of those services: recreating one of them recreates this one.
      ...(spec.restartWith === undefined
        ? {}
        : { [LABELS.restartWith]: spec.restartWith.map((s) => peerName(peers, s)).join(',') }),
      // What the container mounts of the release's files and state folders (their binds depend on where the device
      // keeps them, so are added outside the hash): a changed file recreates the container.
      ...(spec.files === undefined && spec.stateDirectories === undefined
        ? {}
        : {
            [LABELS.files]: sha256Hex(
              canonicalJson({ files: spec.files ?? [], stateDirectories: spec.stateDirectories ?? [] }),
            ),
          }),
    },
    WorkingDir: spec.workingDir,
    User: spec.user,
    Hostname: spec.hostname,
    StopSignal: spec.stopSignal,
    StopTimeout: spec.stopGracePeriodSeconds === undefined ? undefined : Math.ceil(spec.stopGracePeriodSeconds),
    Healthcheck: healthcheck(spec),
    Domainname: spec.domainname,
    MacAddress: spec.macAddress,
    Tty: spec.tty,
    OpenStdin: spec.stdinOpen,
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
      NetworkMode: networkMode(spec, target, peers),
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
      GroupAdd: spec.groupAdd,
      DnsSearch: spec.dnsSearch,
      DnsOptions: spec.dnsOptions,
      PidMode: spec.pid,
      IpcMode: spec.ipc,
      UTSMode: spec.uts,
      UsernsMode: spec.userns,
      CgroupnsMode: spec.cgroupns,
      MemoryReservation: spec.memoryReservationBytes,
      MemorySwap: spec.memorySwapBytes,
      MemorySwappiness: spec.memorySwappiness,
      OomKillDisable: spec.oomKillDisable,
      OomScoreAdj: spec.oomScoreAdj,
      CpuShares: spec.cpuShares,
      CpusetCpus: spec.cpuset,
      CpuQuota: spec.cpuQuota,
      CpuPeriod: spec.cpuPeriod,
      PidsLimit: spec.pidsLimit,
      DeviceCgroupRules: spec.deviceCgroupRules,
      Links: legacyLinks(spec, peers),
      VolumesFrom: spec.volumesFrom?.map((v) => `${peerName(peers, v.service)}:${v.readOnly ? 'ro' : 'rw'}`),
    },
    NetworkingConfig: { EndpointsConfig: networks },
  };
}

/**
 * `peers` names the engine containers of the services this one refers to (network_mode service:, links,
 * volumes_from, depends_on restart): desired-state.ts plans those first.
 */
export function desiredContainer(
  spec: ServiceSpec,
  target: TargetState,
  host: HostContext = {},
  peers: Peers = new Map(),
): DesiredContainer {
  const options = hashedOptions(spec, target, peers);
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
  const fileBinds = releaseFileBinds(spec, host);
  if (fileBinds.length > 0 && options.HostConfig !== undefined)
    options.HostConfig.Binds = [...(options.HostConfig.Binds ?? []), ...fileBinds];
  return {
    service: spec.name,
    name: containerName(spec.name, configHash),
    image: spec.image,
    configHash,
    options,
    networks: serviceNetworks(spec).map((n) => engineNetworkName(target, n)),
    dependsOn: spec.dependsOn,
    restart: spec.restart,
    strategy: updateStrategy(spec),
    handoverTimeoutSeconds: handoverTimeoutSeconds(spec),
  };
}

// The engine's create options as the supervisor writes them: the subset of the Docker Engine API's
// ContainerCreate body that ../plan/container-config.ts produces, named as the engine names them.

export interface HealthConfig {
  Test?: string[];
  /** Nanoseconds, as the engine wants them. */
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
}

export interface PortBinding {
  HostIp?: string;
  HostPort?: string;
}

export interface MountConfig {
  Type: 'bind' | 'volume' | 'tmpfs';
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

export interface RestartPolicyConfig {
  Name?: string;
  MaximumRetryCount?: number;
}

export interface HostConfig {
  Binds?: string[];
  Mounts?: MountConfig[];
  PortBindings?: Record<string, PortBinding[]>;
  RestartPolicy?: RestartPolicyConfig;
  Privileged?: boolean;
  Devices?: DeviceMapping[];
  NetworkMode?: string;
  AutoRemove?: boolean;
  CapAdd?: string[];
  CapDrop?: string[];
  ExtraHosts?: string[];
  Memory?: number;
  NanoCpus?: number;
  Tmpfs?: Record<string, string>;
  LogConfig?: { Type: string; Config?: Record<string, string> };
  Init?: boolean;
  ShmSize?: number;
  ReadonlyRootfs?: boolean;
  SecurityOpt?: string[];
  Sysctls?: Record<string, string>;
  Ulimits?: { Name: string; Soft: number; Hard: number }[];
  Dns?: string[];
}

export interface EndpointConfig {
  Aliases?: string[];
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string };
}

export interface ContainerCreateOptions {
  Image?: string;
  Cmd?: string[];
  Entrypoint?: string | string[];
  Env?: string[];
  Labels?: Record<string, string>;
  WorkingDir?: string;
  User?: string;
  Hostname?: string;
  StopSignal?: string;
  StopTimeout?: number;
  Tty?: boolean;
  OpenStdin?: boolean;
  Healthcheck?: HealthConfig;
  ExposedPorts?: Record<string, Record<string, never>>;
  HostConfig?: HostConfig;
  NetworkingConfig?: { EndpointsConfig?: Record<string, EndpointConfig> };
}

/** Credentials for one registry, sent to the engine as X-Registry-Auth on a pull. */
export interface RegistryAuth {
  username: string;
  password: string;
  /** host[:port] of the registry, as in the image reference. */
  serveraddress: string;
}

/** One line of a pull's progress, as the engine sends it. */
export interface PullProgress {
  /** Layer (short id) the line is about; absent for lines about the whole image. */
  layer?: string;
  status: string;
  /** Bytes done and expected of the layer's download or extraction, when the engine says. */
  current?: number;
  total?: number;
}

export interface EngineImage {
  /** sha256:... */
  id: string;
  repoTags: string[];
  /** REPO@sha256:... references the image was pulled or pushed by. */
  repoDigests: string[];
  /** Bytes on disk, as the engine counts them (shared layers counted in full). */
  size: number;
  createdAt: string;
  /** The uncompressed layer digests (config rootfs.diff_ids), base layer first. */
  diffIds: string[];
}

export interface EngineImageSummary {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
  /** Seconds since the epoch. */
  created: number;
  labels: Record<string, string>;
}

/** What removing an image came to; `in-use`: a container (running or not) still uses it, nothing was removed. */
export type ImageRemoval = 'removed' | 'absent' | 'in-use';

/** Bytes the engine uses, from GET /system/df. */
export interface EngineDiskUsage {
  imagesBytes: number;
  containersBytes: number;
  volumesBytes: number;
  buildCacheBytes: number;
}

/** The filesystem that holds the engine's data root (images, containers, volumes). */
export interface DataRootSpace {
  path: string;
  freeBytes: number;
  totalBytes: number;
}

export interface LogOptions {
  /** Last N lines only. */
  tail?: number;
  /** Only lines at or after this time (seconds since the epoch, or a Date). */
  since?: number | Date;
}

export interface ContainerLogLine {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds, as the engine stamps it. */
  timestamp: string;
  /** The line without its newline. */
  text: string;
}

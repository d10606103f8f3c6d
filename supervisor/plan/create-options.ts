// The engine's create options as the planner writes them: the subset of the Docker Engine API's ContainerCreate
// body that container-config.ts produces, named as the engine names them. Plain data, defined here so the planner
// depends on no engine code; ../engine/engine.ts takes them as the argument of createContainer.
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

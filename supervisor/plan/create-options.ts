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
  BindOptions?: { Propagation?: string };
  VolumeOptions?: { NoCopy?: boolean };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
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
  DnsSearch?: string[];
  DnsOptions?: string[];
  GroupAdd?: string[];
  PidMode?: string;
  IpcMode?: string;
  UTSMode?: string;
  UsernsMode?: string;
  CgroupnsMode?: string;
  MemoryReservation?: number;
  MemorySwap?: number;
  MemorySwappiness?: number;
  OomKillDisable?: boolean;
  OomScoreAdj?: number;
  CpuShares?: number;
  CpusetCpus?: string;
  CpuQuota?: number;
  CpuPeriod?: number;
  PidsLimit?: number;
  DeviceCgroupRules?: string[];
  Links?: string[];
  VolumesFrom?: string[];
}

export interface EndpointConfig {
  Aliases?: string[];
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string; LinkLocalIPs?: string[] };
  MacAddress?: string;
  Links?: string[];
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
  Domainname?: string;
  MacAddress?: string;
  Tty?: boolean;
  OpenStdin?: boolean;
  Healthcheck?: HealthConfig;
  ExposedPorts?: Record<string, Record<string, never>>;
  HostConfig?: HostConfig;
  NetworkingConfig?: { EndpointsConfig?: Record<string, EndpointConfig> };
}

/** How a network is created, beyond its name and labels: the engine's own field names. */
export interface NetworkCreateOptions {
  Driver?: string;
  Options?: Record<string, string>;
  Internal?: boolean;
  Attachable?: boolean;
  EnableIPv6?: boolean;
  IPAM?: {
    Driver?: string;
    Config?: { Subnet?: string; IPRange?: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> }[];
    Options?: Record<string, string>;
  };
}

export interface VolumeCreateOptions {
  Driver?: string;
  DriverOpts?: Record<string, string>;
}

// What of the compose specification Skiff runs, and what it refuses with the reason a device has. A key that is
// valid compose and in neither table is an error naming it ("services.x.develop is not supported by Skiff"), never
// silently dropped: a device must run what the file says or refuse. Extension keys (x-*) are ignored everywhere, as
// the specification intends. test/integration/compose-equivalence.test.ts holds every key of the specification
// against these tables and the corpus of compose files.
import { ComposeIssue, type ComposePath } from './path.js';

export const SUPPORTED = {
  /** `version` is obsolete in compose itself; `name` (the project name) is replaced by the fleet. Both are ignored. */
  topLevel: ['version', 'name', 'services', 'volumes', 'networks', 'configs', 'secrets'],
  /** Every key here has a normaliser in service-fields.ts's SERVICE_FIELDS; the compiler holds the two together. */
  service: [
    'image',
    'build',
    'command',
    'entrypoint',
    'environment',
    'labels',
    'ports',
    'expose',
    'volumes',
    'volumes_from',
    'tmpfs',
    'networks',
    'network_mode',
    'links',
    'restart',
    'privileged',
    'devices',
    'device_cgroup_rules',
    'depends_on',
    'healthcheck',
    'working_dir',
    'user',
    'group_add',
    'hostname',
    'domainname',
    'mac_address',
    'stop_signal',
    'stop_grace_period',
    'cap_add',
    'cap_drop',
    'extra_hosts',
    'dns',
    'dns_search',
    'dns_opt',
    'init',
    'shm_size',
    'read_only',
    'security_opt',
    'sysctls',
    'ulimits',
    'mem_limit',
    'mem_reservation',
    'memswap_limit',
    'mem_swappiness',
    'oom_kill_disable',
    'oom_score_adj',
    'cpus',
    'cpu_shares',
    'cpuset',
    'cpu_quota',
    'cpu_period',
    'pids_limit',
    'pid',
    'ipc',
    'uts',
    'userns_mode',
    'cgroup',
    'stdin_open',
    'tty',
    'platform',
    'logging',
    'deploy',
    'scale',
    'pull_policy',
    'attach',
    // Resolved before services are normalised (extends.ts, and profiles by normalizeCompose's options).
    'extends',
    'profiles',
    // Packed by `skiff push` and carried by the release (files.ts).
    'configs',
    'secrets',
  ],
  /** Top-level `volumes.<name>`. */
  volume: ['name', 'driver', 'driver_opts', 'external', 'labels'],
  /** Top-level `networks.<name>`. */
  network: ['name', 'driver', 'driver_opts', 'ipam', 'external', 'internal', 'enable_ipv6', 'attachable', 'labels'],
  /** `name` and `app_protocol` only describe the port; they change nothing at run time. */
  port: ['target', 'published', 'host_ip', 'protocol', 'mode', 'name', 'app_protocol'],
  /** `consistency` is a macOS/Windows file-sharing hint the engine ignores on Linux, as it does for compose. */
  mount: ['type', 'source', 'target', 'read_only', 'consistency', 'bind', 'volume', 'tmpfs'],
  mountBind: ['propagation', 'create_host_path'],
  mountVolume: ['nocopy'],
  mountTmpfs: ['size', 'mode'],
  device: ['source', 'target', 'permissions'],
  dependency: ['condition', 'required', 'restart'],
  serviceNetwork: ['aliases', 'ipv4_address', 'ipv6_address', 'link_local_ips', 'priority'],
  healthcheck: ['test', 'interval', 'timeout', 'retries', 'start_period', 'disable'],
  deploy: ['resources'],
  resources: ['limits', 'reservations'],
  limits: ['cpus', 'memory', 'pids'],
  reservations: ['memory'],
} as const satisfies Record<string, readonly string[]>;

export type SupportedServiceKey = (typeof SUPPORTED.service)[number];
export type Section = keyof typeof SUPPORTED;

const SWARM = 'is a swarm setting: a device runs one engine, not a swarm, and docker compose ignores it too';
const WINDOWS = 'applies to Windows containers only; devices run Linux';
const API_TOO_NEW =
  "needs Docker Engine API 1.44 or newer; devices run Debian's engine (API 1.41), which would ignore or refuse it";

/** Valid compose keys Skiff refuses, each with the reason. Keyed by the same sections as SUPPORTED. */
export const REFUSED: Readonly<Partial<Record<Section, Readonly<Record<string, string>>>>> = {
  topLevel: {
    include: 'is not supported by Skiff yet: merge the included files into one before pushing',
    models: 'declares AI models served by Docker Model Runner, which devices do not have',
  },
  service: {
    env_file: "is read by `skiff push` on the developer's machine and sent as environment: push with `skiff push`",
    label_file: 'is not supported by Skiff yet: write the labels under `labels`',
    container_name:
      'fixes the engine name, but Skiff names containers itself so an update can create the new container beside the old one; services reach each other by service name',
    external_links: 'names containers outside the release; a device runs only what its release declares',
    develop: 'describes file watching while developing; a device runs released images, not a source tree',
    provider: "runs a provider program on the developer's machine at `up`; a device has no such program",
    models: 'uses Docker Model Runner, which devices do not have',
    gpus: 'requests GPUs through the NVIDIA container runtime; Raspberry Pis have no such GPU',
    runtime: "selects an OCI runtime other than the engine's default; devices have only runc",
    storage_opt:
      'sets a size limit the overlay2 storage driver supports only on xfs with project quotas; devices use ext4',
    blkio_config: 'is not supported by Skiff yet: Raspberry Pi kernels have no BFQ scheduler for weights',
    cgroup_parent:
      "would move the container out of the cgroup the engine manages; the device's cgroups are the supervisor's",
    cpu_count: WINDOWS,
    cpu_percent: WINDOWS,
    credential_spec: WINDOWS,
    isolation: WINDOWS,
    cpu_rt_period:
      'needs a kernel with real-time group scheduling (CONFIG_RT_GROUP_SCHED), which Raspberry Pi OS lacks',
    cpu_rt_runtime:
      'needs a kernel with real-time group scheduling (CONFIG_RT_GROUP_SCHED), which Raspberry Pi OS lacks',
    post_start: API_TOO_NEW,
    pre_stop: API_TOO_NEW,
    annotations: API_TOO_NEW,
    use_api_socket: "would hand the container the device engine's socket and the developer's registry credentials",
    pull_refresh_after: 'is not supported by Skiff: images are pinned by digest, so there is never a newer one to pull',
  },
  mount: { image: `mounts an image as a volume, which ${API_TOO_NEW}` },
  mountBind: {
    recursive: API_TOO_NEW,
    selinux: 'relabels for SELinux; Raspberry Pi OS runs without SELinux',
  },
  mountVolume: {
    subpath: API_TOO_NEW,
    labels:
      'labels the anonymous volume compose creates; not supported by Skiff yet: declare a named volume with labels',
  },
  serviceNetwork: {
    mac_address: `(per network) ${API_TOO_NEW}: set the service's mac_address, which is the primary network's`,
    interface_name: API_TOO_NEW,
    gw_priority: API_TOO_NEW,
    driver_opts: 'is not supported by Skiff yet (endpoint driver options of bridge networks)',
  },
  network: { enable_ipv4: API_TOO_NEW },
  healthcheck: { start_interval: API_TOO_NEW },
  deploy: {
    mode: SWARM,
    endpoint_mode: SWARM,
    replicas: 'asks for several containers of one service; a device runs one per service',
    labels: `(service labels) ${SWARM}; write them under the service's labels`,
    placement: SWARM,
    update_config: `${SWARM}; Skiff's update strategies are set by the io.skiff labels`,
    rollback_config: SWARM,
    restart_policy: `${SWARM}; write the service's restart`,
  },
  reservations: {
    cpus: SWARM,
    generic_resources: SWARM,
    devices: 'reserves GPUs or CDI devices through a device driver Raspberry Pis do not have; use devices',
  },
};

/** One issue per key of `value` that compose allows but Skiff does not run, with the reason when there is one. */
export function unsupportedKeys(
  value: object,
  supported: readonly string[],
  at: ComposePath,
  section?: Section,
): ComposeIssue[] {
  const reasons = section === undefined ? {} : (REFUSED[section] ?? {});
  return Object.keys(value)
    .filter((key) => !key.startsWith('x-') && !supported.includes(key))
    .map((key) => new ComposeIssue([...at, key], reasons[key] ?? 'is not supported by Skiff yet'));
}

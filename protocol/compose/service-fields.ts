// How each supported service key of a compose file becomes part of the release's service spec: one rule per key of
// SUPPORTED.service (support.ts), each given the key's value (already checked against the compose specification's
// schema) and a context to report issues and references to other declarations.
//
// Choices worth knowing:
// - environment `KEY` without a value (list form, or null in map form) is an error: compose would read it from the
//   shell running `docker compose`, and a device has none. Labels without a value are empty, as in compose.
// - `network_mode: service:X`, `links` and `volumes_from` imply `depends_on: X`, as in compose; the container names
//   X's container, so it is recreated whenever X's is (container-config.ts).
// - `restart` defaults to "no", as in compose. `deploy.resources` limits and memory reservation become the engine's
//   limits, as compose v2 makes them (and they win over mem_limit, cpus, pids_limit, as there).
import type { ServiceSpec } from '../target-state.js';
import { ComposeIssue, type ComposePath } from './path.js';
import { SUPPORTED, unsupportedKeys, type Section, type SupportedServiceKey } from './support.js';
import {
  booleanOf,
  deviceMapping,
  durationSeconds,
  keyValues,
  longPort,
  longVolume,
  shellWords,
  shortPorts,
  shortVolume,
  byteSize,
  extraHosts,
  tmpfsEntry,
  ulimits,
  type LongPort,
  type LongVolume,
} from './syntax.js';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** A reference from a service to a top-level declaration, kept with its place for the error if it dangles. */
export interface Reference {
  kind: 'volume' | 'network' | 'service';
  name: string;
  at: ComposePath;
  /** A dependency with `required: false`: a service left out (by profiles) is then no error. */
  optional?: boolean;
}

export interface FieldContext {
  at: ComposePath;
  refer(kind: Reference['kind'], name: string, at: ComposePath, optional?: boolean): void;
  /** For list fields: a bad entry is reported and the others are still checked. */
  report(issue: ComposeIssue): void;
}

type KeyValues = Parameters<typeof keyValues>[0];
type FieldRule = (value: Json, field: FieldContext) => Partial<ServiceSpec>;

export function fail(at: ComposePath, message: string): never {
  throw new ComposeIssue(at, message);
}

function commandOf(value: Json, at: ComposePath): string[] | undefined {
  if (value === null) return undefined;
  return typeof value === 'string' ? shellWords(value, at) : (value as string[]);
}

function eachEntry<T>(value: Json, field: FieldContext, map: (entry: Json, at: ComposePath) => T[]): T[] {
  return (value as Json[]).flatMap((entry, i) => {
    try {
      return map(entry, [...field.at, i]);
    } catch (err) {
      if (!(err instanceof ComposeIssue)) throw err;
      field.report(err);
      return [];
    }
  });
}

function only(value: JsonObject, section: Section, at: ComposePath): void {
  const [first] = unsupportedKeys(value, SUPPORTED[section], at, section);
  if (first) throw first;
}

function strings(value: Json): string[] {
  return typeof value === 'string' ? [value] : (value as string[]).map(String);
}

function integer(value: Json, at: ComposePath, min?: number, max?: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || (min !== undefined && n < min) || (max !== undefined && n > max)) {
    const range = min !== undefined && max !== undefined ? ` between ${min} and ${max}` : '';
    return fail(at, `'${String(value)}' is not a whole number${range}`);
  }
  return n;
}

function cpusOf(value: Json, at: ComposePath): number {
  const cpus = Number(value);
  if (!Number.isFinite(cpus) || cpus < 0) return fail(at, `'${String(value)}' is not a number of CPUs (e.g. 0.5)`);
  return cpus;
}

/** `host`, or a mode among `allowed`; sharing another container's namespace names a container outside the spec. */
function namespaceMode(value: Json, at: ComposePath, allowed: readonly string[]): string {
  const mode = String(value);
  if (allowed.includes(mode)) return mode;
  if (mode.startsWith('service:') || mode.startsWith('container:')) {
    return fail(
      at,
      `'${mode}' shares another container's namespace, which Skiff supports only for the network ` +
        '(network_mode: service:NAME); use one of ' +
        allowed.filter((m) => m !== '').join(', '),
    );
  }
  return fail(at, `'${mode}' is not one of ${allowed.filter((m) => m !== '').join(', ')}`);
}

const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/;
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

function macAddress(value: Json, at: ComposePath): string {
  const mac = String(value);
  if (!MAC.test(mac)) return fail(at, `'${mac}' is not a MAC address (six hex pairs, e.g. 02:42:ac:11:00:02)`);
  return mac;
}

const RESTART_POLICIES = ['no', 'always', 'unless-stopped', 'on-failure'] as const;
const HEALTHCHECK_KINDS = ['NONE', 'CMD', 'CMD-SHELL'];

/** How each supported service key becomes part of the spec: one rule per key of SUPPORTED.service. */
export const SERVICE_FIELDS: Readonly<Record<SupportedServiceKey, FieldRule>> = {
  // Both are read by imageOf: the digest in `images` beats the compose `image`; `build` is the CLI's business.
  image: () => ({}),
  build: () => ({}),
  command: (value, f) => ({ command: commandOf(value, f.at) }),
  entrypoint: (value, f) => ({ entrypoint: commandOf(value, f.at) }),
  environment: (value, f) => ({ environment: keyValues(value as KeyValues, f.at, 'error') }),
  labels: (value, f) => ({ labels: keyValues(value as KeyValues, f.at, 'empty') }),
  ports: (value, f) => ({
    ports: eachEntry(value, f, (entry, at) => {
      if (typeof entry === 'string' || typeof entry === 'number') return shortPorts(entry, at);
      only(entry as JsonObject, 'port', at);
      return longPort(entry as unknown as LongPort, at);
    }),
  }),
  volumes: (value, f) => ({
    volumes: eachEntry(value, f, (entry, at) => {
      let mount: ReturnType<typeof shortVolume>;
      if (typeof entry === 'string') {
        mount = shortVolume(entry, at);
      } else {
        only(entry as JsonObject, 'mount', at);
        for (const [key, section] of [
          ['bind', 'mountBind'],
          ['volume', 'mountVolume'],
          ['tmpfs', 'mountTmpfs'],
        ] as const) {
          const options = (entry as JsonObject)[key];
          if (options !== undefined && options !== null) only(options as JsonObject, section, [...at, key]);
        }
        mount = longVolume(entry as unknown as LongVolume, at);
      }
      if (mount.type === 'volume' && mount.source !== undefined) f.refer('volume', mount.source, at);
      return [mount];
    }),
  }),
  // HostConfig.Tmpfs (not Mounts), as compose does for this key: it takes mount options such as size=64m.
  tmpfs: (value, f) => ({
    tmpfs: Object.fromEntries(
      typeof value === 'string'
        ? [tmpfsEntry(value, f.at)]
        : eachEntry(value, f, (entry, at) => [tmpfsEntry(entry as string, at)]),
    ),
  }),
  networks: (value, f) => {
    const networks: ServiceSpec['networks'] = {};
    if (Array.isArray(value)) {
      value.forEach((network, i) => {
        f.refer('network', network as string, [...f.at, i]);
        networks[network as string] = { aliases: [] };
      });
    } else {
      for (const [network, config] of Object.entries(value as Record<string, JsonObject | null>)) {
        const at = [...f.at, network];
        f.refer('network', network, at);
        networks[network] = serviceNetwork(config, at);
      }
    }
    return { networks };
  },
  network_mode: (value, f) => {
    const mode = value as string;
    if (mode === 'host' || mode === 'none' || mode === 'bridge') return { networkMode: mode, networks: {} };
    if (mode.startsWith('service:')) {
      const other = mode.slice('service:'.length);
      f.refer('service', other, f.at);
      return { networkService: other, networks: {}, dependsOn: { [other]: 'service_started' } };
    }
    if (mode.startsWith('container:')) {
      return fail(
        f.at,
        `network_mode '${mode}' names a container outside the release; a device runs only what its release ` +
          'declares: use service:NAME for a service of this file',
      );
    }
    return fail(f.at, `network_mode '${mode}' is not supported by Skiff yet (host, none or bridge)`);
  },
  restart: (value, f) => {
    const policy = RESTART_POLICIES.find((p) => p === value);
    if (policy) return { restart: policy };
    const retries = typeof value === 'string' ? /^on-failure:(\d+)$/.exec(value)?.[1] : undefined;
    if (retries !== undefined) return { restart: 'on-failure', restartMaxRetries: Number(retries) };
    return fail(f.at, `'${String(value)}' is not a restart policy (${RESTART_POLICIES.join(', ')})`);
  },
  privileged: (value, f) => ({ privileged: booleanOf(value as boolean | string, f.at) }),
  devices: (value, f) => ({
    devices: eachEntry(value, f, (entry, at) => {
      if (typeof entry !== 'string') only(entry as JsonObject, 'device', at);
      return [deviceMapping(entry as string, at)];
    }),
  }),
  depends_on: (value, f) => {
    const dependsOn: ServiceSpec['dependsOn'] = {};
    if (Array.isArray(value)) {
      value.forEach((other, i) => {
        f.refer('service', other as string, [...f.at, i]);
        dependsOn[other as string] = 'service_started';
      });
      return { dependsOn };
    }
    const restartWith: string[] = [];
    for (const [other, config] of Object.entries(value as Record<string, JsonObject>)) {
      const at = [...f.at, other];
      only(config, 'dependency', at);
      // required: false only matters when the service is not in the release (profiles): normalizeCompose drops it.
      f.refer('service', other, at, config.required === false);
      dependsOn[other] = (config.condition ?? 'service_started') as ServiceSpec['dependsOn'][string];
      if (config.restart !== undefined && booleanOf(config.restart as boolean | string, [...at, 'restart'])) {
        restartWith.push(other);
      }
    }
    return restartWith.length > 0 ? { dependsOn, restartWith: restartWith.sort() } : { dependsOn };
  },
  healthcheck: (value, f) => {
    const hc = value as JsonObject;
    only(hc, 'healthcheck', f.at);
    if (hc.disable !== undefined && booleanOf(hc.disable as boolean | string, [...f.at, 'disable'])) {
      return { healthcheck: { test: ['NONE'] } };
    }
    const test = hc.test;
    // Without test the engine keeps the image's own check and takes the timings given here, as with compose.
    const words = test === undefined ? undefined : typeof test === 'string' ? ['CMD-SHELL', test] : (test as string[]);
    if (words !== undefined && !HEALTHCHECK_KINDS.includes(words[0] ?? '')) {
      return fail([...f.at, 'test'], `a healthcheck test list must start with ${HEALTHCHECK_KINDS.join(', ')}`);
    }
    const seconds = (key: string): number | undefined => {
      const text = hc[key];
      return typeof text === 'string' ? durationSeconds(text, [...f.at, key]) : undefined;
    };
    const retries = hc.retries === undefined ? undefined : Number(hc.retries);
    if (retries !== undefined && (!Number.isInteger(retries) || retries < 0)) {
      return fail([...f.at, 'retries'], `'${String(hc.retries)}' is not a whole number of retries`);
    }
    const healthcheck: NonNullable<ServiceSpec['healthcheck']> = words === undefined ? {} : { test: words };
    const interval = seconds('interval');
    const timeout = seconds('timeout');
    const startPeriod = seconds('start_period');
    if (interval !== undefined) healthcheck.intervalSeconds = interval;
    if (timeout !== undefined) healthcheck.timeoutSeconds = timeout;
    if (startPeriod !== undefined) healthcheck.startPeriodSeconds = startPeriod;
    if (retries !== undefined) healthcheck.retries = retries;
    return { healthcheck };
  },
  working_dir: (value) => ({ workingDir: value as string }),
  user: (value) => ({ user: value as string }),
  hostname: (value) => ({ hostname: value as string }),
  stop_signal: (value) => ({ stopSignal: value as string }),
  stop_grace_period: (value, f) => ({ stopGracePeriodSeconds: durationSeconds(value as string, f.at) }),
  cap_add: (value) => ({ capAdd: value as string[] }),
  cap_drop: (value) => ({ capDrop: value as string[] }),
  extra_hosts: (value, f) => ({ extraHosts: extraHosts(value as Parameters<typeof extraHosts>[0], f.at) }),
  dns: (value) => ({ dns: typeof value === 'string' ? [value] : (value as string[]) }),
  init: (value, f) => ({ init: booleanOf(value as boolean | string, f.at) }),
  shm_size: (value, f) => ({ shmSizeBytes: byteSize(value as string | number, f.at) }),
  read_only: (value, f) => ({ readOnly: booleanOf(value as boolean | string, f.at) }),
  security_opt: (value) => ({ securityOpt: value as string[] }),
  sysctls: (value, f) => ({ sysctls: keyValues(value as KeyValues, f.at, 'error') }),
  ulimits: (value, f) => ({ ulimits: ulimits(value as Parameters<typeof ulimits>[0], f.at) }),
  mem_limit: (value, f) => ({ memoryBytes: byteSize(value as string | number, f.at) }),
  cpus: (value, f) => ({ cpus: cpusOf(value, f.at) }),
  logging: (value, f) => {
    const logging = value as { driver?: string; options?: Record<string, string | number | null> };
    const options: Record<string, string> = {};
    for (const [key, option] of Object.entries(logging.options ?? {})) {
      if (option === null) return fail([...f.at, 'options', key], 'has no value');
      options[key] = String(option);
    }
    return { logging: { ...(logging.driver === undefined ? {} : { driver: logging.driver }), options } };
  },
  expose: (value, f) => ({
    expose: eachEntry(value, f, (entry, at) => {
      const text = String(entry);
      const slash = text.indexOf('/');
      const protocol = slash < 0 ? 'tcp' : text.slice(slash + 1).toLowerCase();
      if (protocol !== 'tcp' && protocol !== 'udp') return fail(at, `protocol '${protocol}' is not tcp or udp`);
      return shortPorts(slash < 0 ? text : text.slice(0, slash), at).map((p) => `${p.target}/${protocol}`);
    }),
  }),
  volumes_from: (value, f) => {
    const volumesFrom = eachEntry(value, f, (entry, at) => {
      const [first = '', second, third] = String(entry).split(':');
      if (first === 'container') {
        return fail(
          at,
          `'${String(entry)}' names a container outside the release; a device runs only what its release declares`,
        );
      }
      if (third !== undefined || (second !== undefined && second !== 'ro' && second !== 'rw')) {
        return fail(at, `'${String(entry)}' is not SERVICE[:ro|rw]`);
      }
      f.refer('service', first, at);
      return [{ service: first, readOnly: second === 'ro' }];
    });
    return {
      volumesFrom,
      dependsOn: Object.fromEntries(volumesFrom.map((v) => [v.service, 'service_started' as const])),
    };
  },
  links: (value, f) => {
    const links: Record<string, string> = {};
    eachEntry(value, f, (entry, at) => {
      const [service = '', alias, extra] = String(entry).split(':');
      if (extra !== undefined || service === '' || alias === '')
        return fail(at, `'${String(entry)}' is not SERVICE[:ALIAS]`);
      f.refer('service', service, at);
      links[alias ?? service] = service;
      return [];
    });
    return { links, dependsOn: Object.fromEntries(Object.values(links).map((s) => [s, 'service_started' as const])) };
  },
  device_cgroup_rules: (value) => ({ deviceCgroupRules: strings(value) }),
  group_add: (value) => ({ groupAdd: strings(value) }),
  domainname: (value) => ({ domainname: String(value) }),
  mac_address: (value, f) => ({ macAddress: macAddress(value, f.at) }),
  dns_search: (value) => ({ dnsSearch: strings(value) }),
  dns_opt: (value) => ({ dnsOptions: strings(value) }),
  mem_reservation: (value, f) => ({ memoryReservationBytes: byteSize(value as string | number, f.at) }),
  memswap_limit: (value, f) =>
    value === -1 || value === '-1'
      ? { memorySwapBytes: -1 }
      : { memorySwapBytes: byteSize(value as string | number, f.at) },
  mem_swappiness: (value, f) => ({ memorySwappiness: integer(value, f.at, 0, 100) }),
  oom_kill_disable: (value, f) => ({ oomKillDisable: booleanOf(value as boolean | string, f.at) }),
  oom_score_adj: (value, f) => ({ oomScoreAdj: integer(value, f.at, -1000, 1000) }),
  cpu_shares: (value, f) => ({ cpuShares: integer(value, f.at, 0) }),
  cpuset: (value, f) => {
    const cpuset = String(value);
    if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(cpuset))
      return fail(f.at, `'${cpuset}' is not a CPU list (e.g. 0-1 or 0,2)`);
    return { cpuset };
  },
  cpu_quota: (value, f) => ({ cpuQuota: integer(value, f.at) }),
  cpu_period: (value, f) => ({ cpuPeriod: integer(value, f.at, 0) }),
  pids_limit: (value, f) => ({ pidsLimit: integer(value, f.at) }),
  pid: (value, f) => ({ pid: namespaceMode(value, f.at, ['host', '']) }),
  ipc: (value, f) => ({ ipc: namespaceMode(value, f.at, ['host', 'private', 'shareable', 'none', '']) }),
  uts: (value, f) => ({ uts: namespaceMode(value, f.at, ['host', '']) }),
  userns_mode: (value, f) => ({ userns: namespaceMode(value, f.at, ['host', '']) }),
  cgroup: (value) => ({ cgroupns: value as 'host' | 'private' }),
  stdin_open: (value, f) => ({ stdinOpen: booleanOf(value as boolean | string, f.at) }),
  tty: (value, f) => ({ tty: booleanOf(value as boolean | string, f.at) }),
  platform: (value, f) => {
    const platform = String(value);
    if (!PLATFORM.test(platform)) {
      return fail(
        f.at,
        `'${platform}' is not a platform: write OS/ARCHITECTURE[/VARIANT], e.g. linux/arm64 or linux/arm/v7`,
      );
    }
    return { platform };
  },
  deploy: (value, f) => {
    const deploy = value as JsonObject;
    only(deploy, 'deploy', f.at);
    const resources = (deploy.resources ?? {}) as JsonObject;
    const at = [...f.at, 'resources'];
    only(resources, 'resources', at);
    const limits = (resources.limits ?? {}) as JsonObject;
    const reservations = (resources.reservations ?? {}) as JsonObject;
    only(limits, 'limits', [...at, 'limits']);
    only(reservations, 'reservations', [...at, 'reservations']);
    const out: Partial<ServiceSpec> = {};
    if (limits.cpus !== undefined) out.cpus = cpusOf(limits.cpus, [...at, 'limits', 'cpus']);
    if (limits.memory !== undefined) out.memoryBytes = byteSize(limits.memory as string, [...at, 'limits', 'memory']);
    if (limits.pids !== undefined) out.pidsLimit = integer(limits.pids, [...at, 'limits', 'pids']);
    if (reservations.memory !== undefined) {
      out.memoryReservationBytes = byteSize(reservations.memory as string, [...at, 'reservations', 'memory']);
    }
    return out;
  },
  scale: (value, f) =>
    Number(value) === 1
      ? {}
      : fail(f.at, `asks for ${String(value)} containers of one service; a device runs one per service`),
  // Images are pinned by digest: whatever the policy, the one image is fetched when missing, which is what each
  // policy comes to for a digest. Nothing is dropped.
  pull_policy: () => ({}),
  // Only which logs `docker compose up` prints; a device prints none, it ships them (fleet logs).
  attach: () => ({}),
  // Resolved before the services are normalised.
  extends: () => ({}),
  profiles: () => ({}),
  // Need the top-level declarations and the packed files: normalize.ts maps them (files.ts).
  configs: () => ({}),
  secrets: () => ({}),
};

function serviceNetwork(config: JsonObject | null, at: ComposePath): ServiceSpec['networks'][string] {
  if (config === null) return { aliases: [] };
  only(config, 'serviceNetwork', at);
  const out: ServiceSpec['networks'][string] = {
    aliases: ((config.aliases as string[] | undefined) ?? []).map(String),
  };
  if (config.ipv4_address !== undefined) out.ipv4Address = String(config.ipv4_address);
  if (config.ipv6_address !== undefined) out.ipv6Address = String(config.ipv6_address);
  if (config.link_local_ips !== undefined) out.linkLocalIps = strings(config.link_local_ips);
  if (config.priority !== undefined) out.priority = integer(config.priority, [...at, 'priority']);
  return out;
}

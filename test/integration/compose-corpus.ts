// The corpus of compose files for the equivalence test: where they are, what each asks of the run (the
// `x-equivalence` extension key, which compose and Skiff both ignore), and how an engine's inspection of what
// docker-compose or Skiff created becomes comparable: engine names mapped back to compose names, each tool's own
// bookkeeping dropped, nothing else.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from '@sinclair/typebox';
import { parseDocument } from 'yaml';

export const CORPUS_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'test',
  'fixtures',
  'compose',
);

export function corpusFiles(): string[] {
  return readdirSync(CORPUS_DIR)
    .filter((f) => /^\d\d-.*\.yml$/.test(f))
    .sort();
}

type Segment = string | number;

/** What one file asks of the run, from its `x-equivalence` key. */
export interface RunSettings {
  profiles: string[];
  /** Services docker-compose only creates: privileged ones, which runc cannot start on this test machine. */
  createdOnly: string[];
  /**
   * Edits that give docker-compose 1.29 the file as it can read it: each path set to the value, or deleted when the
   * value is null. Each is a gap of 1.29 against compose v2 and the specification, commented in the file.
   */
  compose129: { at: Segment[]; value: unknown }[];
  /** Where 1.29 cannot express the key, the value compose v2 gives it: set into the reference before comparing. */
  expect: { at: Segment[]; value: unknown }[];
}

const Settings = Type.Object({
  profiles: Type.Optional(Type.Array(Type.String())),
  'created-only': Type.Optional(Type.Array(Type.String())),
  'compose-1.29': Type.Optional(
    Type.Array(Type.Object({ at: Type.Array(Type.Union([Type.String(), Type.Integer()])), value: Type.Unknown() })),
  ),
  expect: Type.Optional(
    Type.Array(Type.Object({ at: Type.Array(Type.Union([Type.String(), Type.Integer()])), value: Type.Unknown() })),
  ),
});

export function runSettings(text: string): RunSettings {
  const raw = (parseDocument(text).toJS() as Record<string, unknown>)['x-equivalence'] ?? {};
  const settings = raw as Static<typeof Settings>;
  return {
    profiles: settings.profiles ?? [],
    createdOnly: settings['created-only'] ?? [],
    compose129: settings['compose-1.29'] ?? [],
    expect: settings.expect ?? [],
  };
}

/** The file as docker-compose 1.29 gets it. */
export function forCompose129(text: string, settings: RunSettings): string {
  if (settings.compose129.length === 0) return text;
  const doc = parseDocument(text);
  for (const edit of settings.compose129) {
    if (edit.value === null) doc.deleteIn(edit.at);
    else doc.setIn(edit.at, doc.createNode(edit.value));
  }
  return doc.toString();
}

export function setIn(target: Record<string, unknown>, at: Segment[], value: unknown): void {
  let node: Record<string, unknown> = target;
  for (const segment of at.slice(0, -1)) {
    const key = String(segment);
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  node[String(at.at(-1))] = value;
}

export const ContainerInspect = Type.Object({
  Id: Type.String(),
  Name: Type.String(),
  Config: Type.Record(Type.String(), Type.Unknown()),
  HostConfig: Type.Record(Type.String(), Type.Unknown()),
  Mounts: Type.Array(
    Type.Object({
      Type: Type.String(),
      Name: Type.Optional(Type.String()),
      Source: Type.String(),
      Destination: Type.String(),
      RW: Type.Boolean(),
      Propagation: Type.Optional(Type.String()),
    }),
  ),
  NetworkSettings: Type.Object({
    Networks: Type.Union([
      Type.Record(
        Type.String(),
        Type.Object({
          Aliases: Type.Union([Type.Array(Type.String()), Type.Null()]),
          Links: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
          IPAMConfig: Type.Optional(Type.Unknown()),
          MacAddress: Type.Optional(Type.String()),
        }),
      ),
      Type.Null(),
    ]),
  }),
});
export type ContainerInspect = Static<typeof ContainerInspect>;

export const NetworkInspect = Type.Object({
  Name: Type.String(),
  Driver: Type.String(),
  Internal: Type.Boolean(),
  Attachable: Type.Boolean(),
  EnableIPv6: Type.Boolean(),
  Options: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
  Labels: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
  IPAM: Type.Object({
    Driver: Type.String(),
    Options: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
    Config: Type.Union([Type.Array(Type.Record(Type.String(), Type.Unknown())), Type.Null()]),
  }),
});
export type NetworkInspect = Static<typeof NetworkInspect>;

export const VolumeInspect = Type.Object({
  Name: Type.String(),
  Driver: Type.String(),
  Options: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
  Labels: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
});
export type VolumeInspect = Static<typeof VolumeInspect>;

/** How one side names engine objects, mapped back to compose names. */
export interface Naming {
  /** Compose name of an engine network or volume name (prefix removed; `name:` overrides pass as they are). */
  network(engineName: string): string;
  volume(engineName: string): string;
  /** Compose service of an engine container name or id. */
  service(nameOrId: string): string;
  ownLabel(key: string): boolean;
  /** An anonymous volume's engine name: random for compose, derived for Skiff. */
  anonymous(volumeName: string): boolean;
}

export const HOST_CONFIG_FIELDS = [
  'CapAdd',
  'CapDrop',
  'Sysctls',
  'Ulimits',
  'Tmpfs',
  'ShmSize',
  'ReadonlyRootfs',
  'SecurityOpt',
  'Memory',
  'MemoryReservation',
  'MemorySwap',
  'MemorySwappiness',
  'OomKillDisable',
  'OomScoreAdj',
  'NanoCpus',
  'CpuShares',
  'CpusetCpus',
  'CpuQuota',
  'CpuPeriod',
  'PidsLimit',
  'Init',
  'ExtraHosts',
  'Dns',
  'DnsSearch',
  'DnsOptions',
  'GroupAdd',
  'PidMode',
  'IpcMode',
  'UTSMode',
  'UsernsMode',
  'CgroupnsMode',
  'LogConfig',
  'RestartPolicy',
  'PortBindings',
  'Devices',
  'DeviceCgroupRules',
  'Privileged',
  'NetworkMode',
  'VolumesFrom',
  'Links',
] as const;

export const CONFIG_FIELDS = [
  'Env',
  'Cmd',
  'Entrypoint',
  'User',
  'WorkingDir',
  'Hostname',
  'Domainname',
  'Labels',
  'Healthcheck',
  'StopSignal',
  'ExposedPorts',
  'Tty',
  'OpenStdin',
] as const;

/** Values the engine treats alike, written the one way. */
function emptyAsNull(value: unknown): unknown {
  if (Array.isArray(value) && value.length === 0) return null;
  if (value !== null && typeof value === 'object' && Object.keys(value).length === 0) return null;
  if (value === '') return null;
  return value;
}

/** Link entries as SERVICE:ALIAS, without the container-number aliases compose adds (`gpsd_1`, `proj_gpsd_1`). */
function links(entries: unknown, naming: Naming): string[] | null {
  if (!Array.isArray(entries)) return null;
  const out = (entries as string[])
    .map((entry) => {
      const [container = '', alias = ''] = entry.replace(/^\//, '').split(':');
      return `${naming.service(container)}:${alias.split('/').at(-1) ?? alias}`;
    })
    .filter((link) => !/[_-]\d+$/.test(link))
    .sort();
  return out.length > 0 ? out : null;
}

/**
 * The container as both sides must agree on it. Deliberate differences undone here:
 * - engine names (project prefix vs skiff_ prefix, container names with numbers vs with config hashes): mapped to
 *   compose names in NetworkMode (container:X and network names), VolumesFrom, Links, mounts and networks;
 * - each tool's own labels (com.docker.compose.*, io.skiff.*) and Skiff's injected SKIFF_* variables;
 * - the alias equal to the container's short id, and Hostname when it is that short id (no `hostname` set);
 * - empty lists, empty maps and empty strings the engine treats alike (compose 1.29 sends Devices null and restart
 *   "", Skiff [] and "no"; changing Skiff's would change the config hash of every running container);
 * - StopTimeout: compose 1.29 applies stop_grace_period only when it stops a container itself; Skiff writes it into
 *   the container so the engine honours it on any stop. Not compared;
 * - anonymous volumes: compose's engine names are random, Skiff's derived from service and path so they survive
 *   updates. Compared by type and path.
 */
export function comparableContainer(c: ContainerInspect, naming: Naming): Record<string, unknown> {
  const host: Record<string, unknown> = {};
  for (const key of HOST_CONFIG_FIELDS) host[key] = emptyAsNull(c.HostConfig[key]);
  const mode = String(c.HostConfig.NetworkMode);
  host.NetworkMode = mode.startsWith('container:')
    ? `container:${naming.service(mode.slice('container:'.length))}`
    : naming.network(mode);
  const restart = c.HostConfig.RestartPolicy as { Name: string; MaximumRetryCount: number };
  host.RestartPolicy = { ...restart, Name: restart.Name === '' ? 'no' : restart.Name };
  host.VolumesFrom = emptyAsNull(
    ((c.HostConfig.VolumesFrom as string[] | null) ?? []).map((v) => {
      const [container = '', rw = 'rw'] = v.split(':');
      return `${naming.service(container)}:${rw}`;
    }),
  );
  host.Links = links(c.HostConfig.Links, naming);

  const config: Record<string, unknown> = {};
  for (const key of CONFIG_FIELDS) config[key] = emptyAsNull(c.Config[key]);
  config.Env = ((c.Config.Env as string[] | null) ?? []).filter((e) => !e.startsWith('SKIFF_')).sort();
  config.Labels = emptyAsNull(
    Object.fromEntries(
      Object.entries((c.Config.Labels as Record<string, string> | null) ?? {}).filter(([k]) => !naming.ownLabel(k)),
    ),
  );
  const shortId = c.Id.slice(0, 12);
  if (config.Hostname === shortId) delete config.Hostname;

  const networks = Object.fromEntries(
    Object.entries(c.NetworkSettings.Networks ?? {}).map(([network, endpoint]) => [
      naming.network(network),
      {
        // The engine adds the short id, and for a running container its host name, when it starts it.
        Aliases: (endpoint.Aliases ?? []).filter((a) => a !== shortId && a !== c.Config.Hostname).sort(),
        IPAMConfig: emptyAsNull(endpoint.IPAMConfig ?? null),
        Links: links(endpoint.Links, naming),
      },
    ]),
  );
  const mounts = c.Mounts.map((m) => ({
    Type: m.Type,
    ...(m.Type === 'volume'
      ? { Name: naming.anonymous(m.Name ?? '') ? '<anonymous>' : naming.volume(m.Name ?? '') }
      : m.Type === 'bind'
        ? { Source: m.Source }
        : {}),
    Destination: m.Destination,
    RW: m.RW,
    Propagation: emptyAsNull(m.Propagation ?? ''),
  })).sort((a, b) => a.Destination.localeCompare(b.Destination));
  // Mount options the runtime view does not show: tmpfs size and mode, volume nocopy.
  const mountOptions: Record<string, unknown> = {};
  for (const m of (c.HostConfig.Mounts as Record<string, unknown>[] | null) ?? []) {
    const options = { TmpfsOptions: m.TmpfsOptions, VolumeOptions: m.VolumeOptions };
    if (options.TmpfsOptions !== undefined || options.VolumeOptions !== undefined) {
      mountOptions[String(m.Target)] = options;
    }
  }
  return { HostConfig: host, Config: config, Mounts: mounts, MountOptions: mountOptions, Networks: networks };
}

/** A network as both sides must agree on it; the engine's own choice of subnet only when the file sets none. */
export function comparableNetwork(
  n: NetworkInspect,
  naming: Naming,
  declared: { ipam?: unknown; attachable?: unknown } | null | undefined,
): Record<string, unknown> {
  const fileSetsIpam = declared?.ipam !== undefined;
  return {
    Driver: n.Driver,
    Internal: n.Internal,
    // docker-compose 1.29 makes every network attachable; v2 and Skiff only when the file says so.
    ...(declared?.attachable === undefined ? {} : { Attachable: n.Attachable }),
    EnableIPv6: n.EnableIPv6,
    Options: emptyAsNull(n.Options ?? {}),
    Labels: emptyAsNull(Object.fromEntries(Object.entries(n.Labels ?? {}).filter(([k]) => !naming.ownLabel(k)))),
    IPAM: {
      Driver: n.IPAM.Driver,
      Options: emptyAsNull(n.IPAM.Options ?? {}),
      ...(fileSetsIpam ? { Config: n.IPAM.Config } : {}),
    },
  };
}

export function comparableVolume(v: VolumeInspect, naming: Naming): Record<string, unknown> {
  return {
    Driver: v.Driver,
    Options: emptyAsNull(v.Options ?? {}),
    Labels: emptyAsNull(Object.fromEntries(Object.entries(v.Labels ?? {}).filter(([k]) => !naming.ownLabel(k)))),
  };
}

/** Every place where `actual` and `expected` differ, as PATH: actual != expected, for a failure people can read. */
export function differences(actual: unknown, expected: unknown, at = ''): string[] {
  if (JSON.stringify(actual) === JSON.stringify(expected)) return [];
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';
  if (isObject(actual) && isObject(expected) && !Array.isArray(actual) && !Array.isArray(expected)) {
    const keys = [...new Set([...Object.keys(actual), ...Object.keys(expected)])].sort();
    return keys.flatMap((k) => differences(actual[k], expected[k], `${at}.${k}`));
  }
  return [`${at}: skiff ${JSON.stringify(actual)} != compose ${JSON.stringify(expected)}`];
}

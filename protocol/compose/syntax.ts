// The compose file's short syntaxes, each turned into its one long form: durations, shell-style command strings,
// port and volume strings, device strings, KEY=VALUE lists. Inputs have passed the compose JSON schema already;
// what these check is what the schema leaves open (a string is a string to it).
import { isIP } from 'node:net';
import { ComposeIssue, type ComposePath } from './path.js';
import type { PortMapping, VolumeMount } from '../target-state.js';

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

/** A Go duration as compose writes them ("1m30s", "500ms", "0") in seconds. */
export function durationSeconds(text: string, at: ComposePath): number {
  const trimmed = text.trim();
  if (trimmed === '0') return 0;
  let seconds = 0;
  let index = 0;
  DURATION_PART.lastIndex = 0;
  while (index < trimmed.length) {
    DURATION_PART.lastIndex = index;
    const match = DURATION_PART.exec(trimmed);
    if (!match) break;
    seconds += Number(match[1]) * (DURATION_UNITS[match[2] ?? ''] ?? Number.NaN);
    index = DURATION_PART.lastIndex;
  }
  if (trimmed === '' || index !== trimmed.length || !Number.isFinite(seconds)) {
    throw new ComposeIssue(at, `'${text}' is not a duration (write e.g. 10s, 1m30s, 500ms)`);
  }
  // Sub-nanosecond float noise ("0.1s" + "0.2s") would make equal durations compare unequal downstream.
  return Math.round(seconds * 1e9) / 1e9;
}

/**
 * Splits a command string into words the way a POSIX shell would for simple cases: blanks separate, single quotes
 * are literal, double quotes allow \" \\ \$ \`, a backslash outside quotes escapes the next character. No
 * expansion of any kind: compose does none either.
 */
export function shellWords(text: string, at: ComposePath): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1] ?? '')) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw new ComposeIssue(at, `'${text}' ends with a lone backslash`);
      word += text[++i];
      inWord = true;
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote !== null)
    throw new ComposeIssue(at, `'${text}' has an unterminated ${quote === '"' ? 'double' : 'single'} quote`);
  if (inWord) words.push(word);
  return words;
}

/** `KEY=VALUE` lists and maps, the two forms of environment and labels. */
export function keyValues(
  value: readonly string[] | Readonly<Record<string, string | number | boolean | null>>,
  at: ComposePath,
  withoutValue: 'error' | 'empty',
): Record<string, string> {
  const out: Record<string, string> = {};
  const missing = (key: string, where: ComposePath): string => {
    if (withoutValue === 'empty') return '';
    // Compose would take the value from the shell that runs `docker compose`; a device has no such shell.
    throw new ComposeIssue(
      where,
      `'${key}' has no value; Skiff has no shell environment to take it from (write '${key}=' for an empty value)`,
    );
  };
  if (Array.isArray(value)) {
    (value as readonly string[]).forEach((entry, i) => {
      const eq = entry.indexOf('=');
      const key = eq < 0 ? entry : entry.slice(0, eq);
      if (key === '') throw new ComposeIssue([...at, i], `'${entry}' has no name before '='`);
      out[key] = eq < 0 ? missing(key, [...at, i]) : entry.slice(eq + 1);
    });
    return out;
  }
  for (const [key, raw] of Object.entries(value as Readonly<Record<string, string | number | boolean | null>>)) {
    out[key] = raw === null ? missing(key, [...at, key]) : String(raw);
  }
  return out;
}

/** Compose accepts booleans as YAML booleans or as the strings "true"/"false" (left by interpolation). */
export function booleanOf(value: boolean | string, at: ComposePath): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new ComposeIssue(at, `'${value}' is not a boolean (write true or false)`);
}

// ---- ports ----

/** Port ranges expand to one mapping per port: a device binds each, so a huge range is almost surely a typo. */
const MAX_PORT_RANGE = 1024;

interface PortRange {
  first: number;
  count: number;
}

function portRange(text: string, what: string, at: ComposePath): PortRange {
  const match = /^(\d+)(?:-(\d+))?$/.exec(text.trim());
  const first = Number(match?.[1]);
  const last = match?.[2] === undefined ? first : Number(match[2]);
  if (!match || !inPortRange(first) || !inPortRange(last)) {
    throw new ComposeIssue(at, `${what} '${text}' is not a port or port range (1-65535)`);
  }
  if (last < first) throw new ComposeIssue(at, `${what} range '${text}' ends before it starts`);
  if (last - first + 1 > MAX_PORT_RANGE) {
    throw new ComposeIssue(at, `${what} range '${text}' spans more than ${MAX_PORT_RANGE} ports`);
  }
  return { first, count: last - first + 1 };
}

function inPortRange(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

function protocolOf(text: string | undefined, at: ComposePath): PortMapping['protocol'] {
  const protocol = (text ?? 'tcp').toLowerCase();
  if (protocol === 'tcp' || protocol === 'udp') return protocol;
  throw new ComposeIssue(at, `protocol '${text ?? ''}' is not supported by Skiff (tcp or udp)`);
}

function hostIpOf(text: string, at: ComposePath): string {
  if (isIP(text) === 0) throw new ComposeIssue(at, `host IP '${text}' is not an IPv4 or IPv6 address`);
  return text;
}

/** "80", "8080:80", "127.0.0.1:8080:80/udp", "[::1]::80", "9000-9001:8000-8001", or a bare number. */
export function shortPorts(entry: string | number, at: ComposePath): PortMapping[] {
  if (typeof entry === 'number')
    return [{ target: portRange(String(entry), 'container port', at).first, protocol: 'tcp' }];
  const slash = entry.lastIndexOf('/');
  const protocol = protocolOf(slash < 0 ? undefined : entry.slice(slash + 1), at);
  const spec = slash < 0 ? entry : entry.slice(0, slash);

  let hostIp: string | undefined;
  let rest = spec;
  if (spec.startsWith('[')) {
    const close = spec.indexOf(']:');
    if (close < 0) throw new ComposeIssue(at, `'${entry}' has an unclosed [IPv6] host address`);
    hostIp = hostIpOf(spec.slice(1, close), at);
    rest = spec.slice(close + 2);
  }
  const parts = rest.split(':');
  let published: string | undefined;
  let target: string;
  if (hostIp !== undefined) {
    if (parts.length !== 2) throw new ComposeIssue(at, `'${entry}' is not [HOST_IP]:[PUBLISHED]:TARGET`);
    [published, target] = parts as [string, string];
  } else if (parts.length === 1) {
    target = parts[0] ?? '';
  } else if (parts.length === 2) {
    [published, target] = parts as [string, string];
  } else if (parts.length === 3) {
    hostIp = hostIpOf(parts[0] ?? '', at);
    [, published, target] = parts as [string, string, string];
  } else {
    throw new ComposeIssue(
      at,
      `'${entry}' is not [[HOST_IP:]PUBLISHED:]TARGET[/PROTOCOL] (IPv6 host addresses go in brackets)`,
    );
  }
  return expandPorts(target, published === '' ? undefined : published, hostIp, protocol, at);
}

function expandPorts(
  targetText: string,
  publishedText: string | undefined,
  hostIp: string | undefined,
  protocol: PortMapping['protocol'],
  at: ComposePath,
): PortMapping[] {
  const target = portRange(targetText, 'container port', at);
  const published = publishedText === undefined ? undefined : portRange(publishedText, 'published port', at);
  if (published !== undefined && published.count !== target.count) {
    throw new ComposeIssue(
      at,
      `published ports (${published.count}) and container ports (${target.count}) differ in number; Skiff maps them one to one`,
    );
  }
  return Array.from({ length: target.count }, (_, i) => ({
    target: target.first + i,
    ...(published === undefined ? {} : { published: published.first + i }),
    ...(hostIp === undefined ? {} : { hostIp }),
    protocol,
  }));
}

export interface LongPort {
  target: number | string;
  published?: number | string;
  host_ip?: string;
  protocol?: string;
  mode?: string;
}

export function longPort(entry: LongPort, at: ComposePath): PortMapping[] {
  if (entry.mode !== undefined && entry.mode !== 'host') {
    throw new ComposeIssue(
      [...at, 'mode'],
      `mode '${entry.mode}' is not supported by Skiff (only host: a device is no swarm)`,
    );
  }
  const protocol = protocolOf(entry.protocol, [...at, 'protocol']);
  const hostIp = entry.host_ip === undefined ? undefined : hostIpOf(entry.host_ip, [...at, 'host_ip']);
  const published = entry.published === undefined || entry.published === '' ? undefined : String(entry.published);
  return expandPorts(String(entry.target), published, hostIp, protocol, at);
}

// ---- volumes ----

function absoluteTarget(target: string | undefined, at: ComposePath): string {
  if (target === undefined || !target.startsWith('/')) {
    throw new ComposeIssue(at, `container path '${target ?? ''}' must be absolute`);
  }
  return target;
}

/** A path (absolute, or relative to the compose file's folder: files.ts packs those) or a volume name. */
function sourceKind(source: string): 'bind' | 'volume' {
  return source.startsWith('/') || source.startsWith('.') || source.startsWith('~') ? 'bind' : 'volume';
}

/** "name:/path[:ro]" or "/host/path:/path[:rw]". */
export function shortVolume(entry: string, at: ComposePath): VolumeMount {
  const parts = entry.split(':');
  // An anonymous volume: the engine's, kept across updates of the service as compose keeps it across recreates.
  if (parts.length === 1) return { type: 'volume', target: absoluteTarget(entry, at), readOnly: false };
  if (parts.length > 3) throw new ComposeIssue(at, `'${entry}' is not SOURCE:TARGET[:MODE]`);
  const [source = '', target, mode] = parts;
  let readOnly = false;
  for (const flag of (mode ?? '').split(',').filter((f) => f !== '')) {
    if (flag === 'ro' || flag === 'rw') readOnly = flag === 'ro';
    else throw new ComposeIssue(at, `volume mode '${flag}' is not supported by Skiff (ro or rw)`);
  }
  return { type: sourceKind(source), source, target: absoluteTarget(target, at), readOnly };
}

export interface LongVolume {
  type: string;
  source?: string;
  target?: string;
  read_only?: boolean | string;
  bind?: { propagation?: string; create_host_path?: boolean | string } | null;
  volume?: { nocopy?: boolean | string } | null;
  tmpfs?: { size?: number | string; mode?: number | string } | null;
}

const PROPAGATIONS = ['rprivate', 'private', 'rshared', 'shared', 'rslave', 'slave'];

/** The options of bind, volume and tmpfs long-syntax mounts, only those set. */
function mountOptions(entry: LongVolume, at: ComposePath): Partial<VolumeMount> {
  const out: Partial<VolumeMount> = {};
  const misplaced = (['bind', 'volume', 'tmpfs'] as const).find((k) => entry[k] != null && k !== entry.type);
  if (misplaced !== undefined) {
    throw new ComposeIssue([...at, misplaced], `${misplaced} options do not apply to a ${entry.type} mount`);
  }
  if (entry.bind != null) {
    const { propagation, create_host_path: create } = entry.bind;
    if (propagation !== undefined) {
      if (!PROPAGATIONS.includes(propagation)) {
        throw new ComposeIssue(
          [...at, 'bind', 'propagation'],
          `'${propagation}' is not one of ${PROPAGATIONS.join(', ')}`,
        );
      }
      out.propagation = propagation;
    }
    if (create !== undefined && !booleanOf(create, [...at, 'bind', 'create_host_path'])) out.requireHostPath = true;
  }
  if (entry.volume?.nocopy !== undefined && booleanOf(entry.volume.nocopy, [...at, 'volume', 'nocopy'])) {
    out.noCopy = true;
  }
  if (entry.tmpfs != null) {
    if (entry.tmpfs.size !== undefined) out.tmpfsSizeBytes = byteSize(entry.tmpfs.size, [...at, 'tmpfs', 'size']);
    const mode = entry.tmpfs.mode;
    if (mode !== undefined) {
      // A string is read as octal ("1777"), as compose does; a YAML number is taken as written (0o1777).
      const value = typeof mode === 'string' ? Number.parseInt(mode, 8) : mode;
      if (!Number.isInteger(value) || value < 0 || value > 0o7777) {
        throw new ComposeIssue([...at, 'tmpfs', 'mode'], `'${String(mode)}' is not a file mode (e.g. "1777")`);
      }
      out.tmpfsMode = value;
    }
  }
  return out;
}

export function longVolume(entry: LongVolume, at: ComposePath): VolumeMount {
  const readOnly = entry.read_only === undefined ? false : booleanOf(entry.read_only, [...at, 'read_only']);
  const target = absoluteTarget(entry.target, [...at, 'target']);
  switch (entry.type) {
    case 'tmpfs':
      if (entry.source !== undefined) throw new ComposeIssue([...at, 'source'], 'a tmpfs mount has no source');
      return { type: 'tmpfs', target, readOnly, ...mountOptions(entry, at) };
    case 'bind':
    case 'volume': {
      if ((entry.source === undefined || entry.source === '') && entry.type === 'volume') {
        return { type: 'volume', target, readOnly, ...mountOptions(entry, at) };
      }
      if (entry.source === undefined || entry.source === '') {
        throw new ComposeIssue([...at, 'source'], 'a bind mount needs the host path as source');
      }
      const kind = sourceKind(entry.source);
      if (kind !== entry.type) {
        throw new ComposeIssue(
          [...at, 'source'],
          entry.type === 'bind'
            ? `bind source '${entry.source}' must be a host path (absolute, or ./ relative to the compose file)`
            : `volume source '${entry.source}' must be a volume name, not a path`,
        );
      }
      return { type: entry.type, source: entry.source, target, readOnly, ...mountOptions(entry, at) };
    }
    default:
      throw new ComposeIssue(
        [...at, 'type'],
        `mount type '${entry.type}' is not supported by Skiff yet (volume, bind or tmpfs)`,
      );
  }
}

// ---- devices ----

const DEVICE_PERMISSIONS = /^[rwm]{1,3}$/;

/** "/dev/ttyUSB0", "/dev/ttyUSB0:/dev/meter", "/dev/ttyUSB0:/dev/meter:rw", or the long form -> HOST:CONTAINER[:PERMS]. */
export function deviceMapping(
  entry: string | { source: string; target?: string; permissions?: string },
  at: ComposePath,
): string {
  const [source = '', target, permissions] =
    typeof entry === 'string' ? entry.split(':') : [entry.source, entry.target, entry.permissions];
  if (typeof entry === 'string' && entry.split(':').length > 3) {
    throw new ComposeIssue(at, `'${entry}' is not HOST_PATH[:CONTAINER_PATH[:PERMISSIONS]]`);
  }
  if (!source.startsWith('/')) {
    throw new ComposeIssue(
      at,
      `device '${source}' must be an absolute host path (CDI device names are not supported by Skiff yet)`,
    );
  }
  const inside = target === undefined || target === '' ? source : target;
  if (!inside.startsWith('/')) throw new ComposeIssue(at, `device container path '${inside}' must be absolute`);
  if (permissions !== undefined && !DEVICE_PERMISSIONS.test(permissions)) {
    throw new ComposeIssue(at, `device permissions '${permissions}' must be made of r, w and m`);
  }
  return permissions === undefined ? `${source}:${inside}` : `${source}:${inside}:${permissions}`;
}

// ---- resources and host settings ----

/** Docker's byte units, powers of 1024 as the docker CLI and compose read them ("64m" is 64 MiB). */
const BYTE_UNITS: Readonly<Record<string, number>> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
const BYTE_SIZE = /^(\d+(?:\.\d+)?)\s*([bkmg])?b?$/i;

/** "64m", "1.5g", "512k", "100b", or a number of bytes. */
export function byteSize(value: string | number, at: ComposePath): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0) return value;
    throw new ComposeIssue(at, `'${value}' is not a whole number of bytes`);
  }
  const match = BYTE_SIZE.exec(value.trim());
  if (!match) throw new ComposeIssue(at, `'${value}' is not a size (write e.g. 64m, 1g, 512k or a number of bytes)`);
  return Math.floor(Number(match[1]) * (BYTE_UNITS[(match[2] ?? 'b').toLowerCase()] ?? 1));
}

export interface Ulimit {
  name: string;
  soft: number;
  hard: number;
}

/** `nofile: 1024` (soft = hard) or `nofile: {soft: 1024, hard: 2048}`. */
export function ulimits(
  value: Readonly<Record<string, number | string | { soft: number | string; hard: number | string }>>,
  at: ComposePath,
): Ulimit[] {
  const whole = (raw: number | string, where: ComposePath): number => {
    const n = Number(raw);
    if (!Number.isInteger(n)) throw new ComposeIssue(where, `'${String(raw)}' is not a whole number`);
    return n;
  };
  // In the file's order, as compose passes them: the engine does not care, and equal files still give equal specs.
  return Object.entries(value).map(([name, limit]) => {
    if (typeof limit === 'object') {
      const soft = whole(limit.soft, [...at, name, 'soft']);
      const hard = whole(limit.hard, [...at, name, 'hard']);
      if (soft > hard) throw new ComposeIssue([...at, name], `soft limit ${soft} is above the hard limit ${hard}`);
      return { name, soft, hard };
    }
    const both = whole(limit, [...at, name]);
    return { name, soft: both, hard: both };
  });
}

/**
 * extra_hosts as the engine wants them, HOST:IP. Lists take "HOST:IP" or "HOST=IP" (IPv6 addresses contain ':'
 * themselves, so only the first separator counts); maps take HOST: IP. A list of several IPs per host is not allowed.
 */
export function extraHosts(
  value: readonly string[] | Readonly<Record<string, string | readonly string[]>>,
  at: ComposePath,
): string[] {
  const one = (host: string, ip: string, where: ComposePath): string => {
    const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
    if (host === '') throw new ComposeIssue(where, `'${host}:${ip}' has no host name`);
    if (isIP(bare) === 0 && bare !== 'host-gateway')
      throw new ComposeIssue(where, `'${ip}' is not an IP address (or host-gateway)`);
    return `${host}:${bare}`;
  };
  if (Array.isArray(value)) {
    return (value as readonly string[]).map((entry, i) => {
      const sep = /[=:]/.exec(entry);
      if (!sep) throw new ComposeIssue([...at, i], `'${entry}' is not HOST:IP`);
      return one(entry.slice(0, sep.index), entry.slice(sep.index + 1), [...at, i]);
    });
  }
  return Object.entries(value as Readonly<Record<string, string | readonly string[]>>).flatMap(([host, ips]) =>
    (typeof ips === 'string' ? [ips] : ips).map((ip) => one(host, ip, [...at, host])),
  );
}

/** The service-level `tmpfs: /run` or `/run:size=64m,mode=1777` -> mount point and mount options. */
export function tmpfsEntry(entry: string, at: ComposePath): [string, string] {
  const colon = entry.indexOf(':');
  const target = colon < 0 ? entry : entry.slice(0, colon);
  return [absoluteTarget(target, at), colon < 0 ? '' : entry.slice(colon + 1)];
}

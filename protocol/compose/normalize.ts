// A compose file, as people write it, turned into the release's service specs as devices run them: YAML parsed,
// checked against the compose specification, every short form expanded to its long form, every image pinned by
// digest, every reference resolved. Shared by the API (on release creation) and the CLI (before pushing).
//
// Choices worth knowing:
// - environment `KEY` without a value (list form, or null in map form) is an error: compose would read it from the
//   shell running `docker compose`, and a device has none. Labels without a value are empty, as in compose.
// - A service with neither `networks` nor `network_mode` joins the network `default`, as in compose; `default` is
//   then part of the release's networks. `network_mode: service:x` implies `depends_on: x`, as in compose.
// - `restart` defaults to "no", as in compose.
// - Variable interpolation ($VAR, ${VAR}) and env_file are resolved by `skiff push` on the developer's machine
//   (resolution.ts): a file that still holds them here is an error, since a device has no environment or
//   project folder to take values from. `$$` is a `$`.
// - network_mode `service:NAME` is refused: the container would have to be recreated whenever NAME's is.
// - Services, volumes and networks come out sorted by name, so equal files give equal target states.
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { check, ValidationError, type Issue } from '../validate.js';
import { ServiceSpecSchema, type ServiceSpec } from '../target-state.js';
import { ComposeIssue, formatPath, type ComposePath } from './path.js';
import { checkComposeSchema } from './schema.js';
import { hasVariables } from './interpolation.js';
import { ImageReferenceError, parseDigestReference } from '../image-reference.js';
import { SUPPORTED, unsupportedKeys, type SupportedServiceKey } from './support.js';
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

export interface NormalizedCompose {
  services: ServiceSpec[];
  /** Named volumes the file declares. */
  volumes: string[];
  /** Networks the file declares, plus `default` when a service uses it. */
  networks: string[];
}

const WHAT = 'compose file';
/** The names a target state accepts for services, volumes and networks (target-state.ts). */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const DEFAULT_NETWORK = 'default';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** A reference from a service to a top-level declaration, kept with its place for the error if it dangles. */
interface Reference {
  kind: 'volume' | 'network' | 'service';
  name: string;
  at: ComposePath;
}

interface FieldContext {
  at: ComposePath;
  refer(kind: Reference['kind'], name: string, at: ComposePath): void;
  /** For list fields: a bad entry is reported and the others are still checked. */
  report(issue: ComposeIssue): void;
}

type KeyValues = Parameters<typeof keyValues>[0];
type FieldRule = (value: Json, field: FieldContext) => Partial<ServiceSpec>;

/**
 * Parses and normalises `yamlText`. `images` maps service names to digest references that replace the services'
 * `image` (the CLI fills it for services it built). Throws a ValidationError listing every problem found, each
 * with its compose path (`services.meter-reader.ports[0]`) and line.
 */
export function normalizeCompose(yamlText: string, images: Readonly<Record<string, string>>): NormalizedCompose {
  const lines = new LineCounter();
  const doc = parseDocument(yamlText, { lineCounter: lines, merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ValidationError(
      WHAT,
      doc.errors.map((e) => ({
        path: e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '',
        message: `YAML syntax error: ${(e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`,
      })),
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new ValidationError(WHAT, [{ path: '', message: err instanceof Error ? err.message : String(err) }]);
  }

  const issues: ComposeIssue[] = checkComposeSchema(raw).map((s) => new ComposeIssue(s.path, s.message));
  if (issues.length === 0) {
    const unescaped = withoutInterpolation(raw as Json, [], issues) as JsonObject;
    if (issues.length === 0) {
      const result = normalizeDocument(unescaped, images, issues);
      if (issues.length === 0) return result;
    }
  }
  // In the order of the file, so people can fix them top to bottom.
  const located = issues.map((issue) => ({ issue, offset: offsetOf(issue.path, doc) }));
  located.sort((a, b) => (a.offset ?? Infinity) - (b.offset ?? Infinity));
  throw new ValidationError(
    WHAT,
    located.map(({ issue, offset }) => toIssue(issue, offset, lines)),
  );
}

/**
 * Where the text names `path`: the key of a map entry (so `deploy:` points at its own line, not its value's), the
 * item of a sequence. Unknown for entries that came through a YAML merge key.
 */
function offsetOf(path: ComposePath, doc: ReturnType<typeof parseDocument>): number | undefined {
  if (path.length === 0) return doc.contents?.range?.[0];
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  const last = path[path.length - 1];
  let node: unknown;
  if (isMap(parent))
    node = parent.items.find((pair) => isScalar(pair.key) && String(pair.key.value) === String(last))?.key;
  else if (isSeq(parent) && typeof last === 'number') node = parent.items[last];
  return isNode(node) ? node.range?.[0] : undefined;
}

function toIssue(issue: ComposeIssue, offset: number | undefined, lines: LineCounter): Issue {
  const where = offset === undefined ? undefined : lines.linePos(offset);
  return {
    path: formatPath(issue.path),
    message: where ? `${issue.message} (line ${where.line}, column ${where.col})` : issue.message,
  };
}

/** Finds $VAR / ${VAR} (unsupported) and turns $$ into $, in every value Skiff reads (not build, not x-*). */
function withoutInterpolation(value: Json, at: ComposePath, issues: ComposeIssue[]): Json {
  if (typeof value === 'string') {
    if (hasVariables(value)) {
      issues.push(
        new ComposeIssue(
          at,
          `'${value}' holds a variable: push with \`skiff push\`, which resolves variables from its environment and the ` +
            '.env file next to the compose file; or write the value itself, and $$ for a literal $',
        ),
      );
      return value;
    }
    return value.replace(/\$\$/g, '$');
  }
  if (Array.isArray(value)) return value.map((item, i) => withoutInterpolation(item, [...at, i], issues));
  if (value === null || typeof value !== 'object') return value;
  const out: JsonObject = {};
  const inService = at.length === 2 && at[0] === 'services';
  for (const [key, item] of Object.entries(value)) {
    out[key] =
      key.startsWith('x-') || (inService && key === 'build') ? item : withoutInterpolation(item, [...at, key], issues);
  }
  return out;
}

function normalizeDocument(
  file: JsonObject,
  images: Readonly<Record<string, string>>,
  issues: ComposeIssue[],
): NormalizedCompose {
  issues.push(...unsupportedKeys(file, SUPPORTED.topLevel, []));
  const volumes = declarations(file.volumes, 'volumes', SUPPORTED.volume, 'local', issues);
  const networks = declarations(file.networks, 'networks', SUPPORTED.network, 'bridge', issues);
  const services = (file.services ?? {}) as Record<string, JsonObject | null>;
  const names = Object.keys(services);
  if (names.length === 0) issues.push(new ComposeIssue(['services'], 'a release needs at least one service'));
  for (const name of Object.keys(images)) {
    if (!(name in services)) issues.push(new ComposeIssue(['images', name], 'names no service of the compose file'));
  }

  const references: Reference[] = [];
  const specs: ServiceSpec[] = [];
  for (const name of names.sort()) {
    const spec = normalizeService(name, services[name] ?? {}, images[name], references, issues);
    if (spec) specs.push(spec);
  }

  const declared = {
    volume: new Set(volumes),
    network: new Set([...networks, DEFAULT_NETWORK]),
    service: new Set(names),
  };
  const plural = { volume: 'volumes', network: 'networks', service: 'services' } as const;
  for (const ref of references) {
    if (!declared[ref.kind].has(ref.name)) {
      issues.push(
        new ComposeIssue(ref.at, `${ref.kind} '${ref.name}' is not declared under the top-level ${plural[ref.kind]}`),
      );
    }
  }
  issues.push(...dependencyCycles(specs));

  const usesDefault = specs.some((s) => DEFAULT_NETWORK in s.networks);
  const allNetworks = usesDefault && !networks.includes(DEFAULT_NETWORK) ? [...networks, DEFAULT_NETWORK] : networks;
  return { services: specs, volumes: volumes.sort(), networks: allNetworks.sort() };
}

/** Top-level volumes or networks: names only, since Skiff creates them with the engine's defaults. */
function declarations(
  value: Json | undefined,
  section: 'volumes' | 'networks',
  supported: readonly string[],
  driver: string,
  issues: ComposeIssue[],
): string[] {
  const entries = (value ?? {}) as Record<string, JsonObject | null>;
  for (const [name, config] of Object.entries(entries)) {
    const at = [section, name];
    if (!NAME.test(name))
      issues.push(new ComposeIssue(at, `'${name}' must start with a letter or digit (at most 128 characters)`));
    if (config === null) continue;
    issues.push(...unsupportedKeys(config, supported, at));
    if (config.driver !== undefined && config.driver !== driver) {
      issues.push(
        new ComposeIssue(
          [...at, 'driver'],
          `driver '${String(config.driver)}' is not supported by Skiff yet (only ${driver})`,
        ),
      );
    }
  }
  return Object.keys(entries);
}

function normalizeService(
  name: string,
  service: JsonObject,
  pinned: string | undefined,
  references: Reference[],
  issues: ComposeIssue[],
): ServiceSpec | null {
  const base: ComposePath = ['services', name];
  const before = issues.length;
  if (!NAME.test(name))
    issues.push(
      new ComposeIssue(base, `service name '${name}' must start with a letter or digit (at most 128 characters)`),
    );
  issues.push(
    ...unsupportedKeys(service, SUPPORTED.service, base).map((issue) =>
      issue.path.at(-1) === 'env_file'
        ? new ComposeIssue(
            issue.path,
            "env files are read by `skiff push` on the developer's " +
              'machine and sent as environment; the device has no such file: push with `skiff push`, or write environment',
          )
        : issue,
    ),
  );
  if (service.network_mode !== undefined && service.networks !== undefined) {
    issues.push(new ComposeIssue([...base, 'network_mode'], 'network_mode and networks exclude each other'));
  }

  let spec: ServiceSpec = {
    name,
    image: '',
    environment: {},
    labels: {},
    volumes: [],
    ports: [],
    networks: {},
    restart: 'no',
    privileged: false,
    devices: [],
    dependsOn: {},
  };
  const context = (key: string): FieldContext => ({
    at: [...base, key],
    refer: (kind, ref, at) => references.push({ kind, name: ref, at }),
    report: (issue) => issues.push(issue),
  });
  for (const key of SUPPORTED.service) {
    const value = service[key];
    if (value === undefined) continue;
    try {
      spec = merge(spec, SERVICE_FIELDS[key](value, context(key)));
    } catch (err) {
      if (!(err instanceof ComposeIssue)) throw err;
      issues.push(err);
    }
  }

  try {
    spec.image = imageOf(name, service, pinned);
  } catch (err) {
    if (!(err instanceof ComposeIssue)) throw err;
    issues.push(err);
  }
  if (spec.networkMode === undefined && Object.keys(spec.networks).length === 0) {
    spec.networks = { [DEFAULT_NETWORK]: { aliases: [] } };
  }
  if (issues.length > before) return null;

  // The contract's own schema is the last word: anything that slipped through above is caught here, not on a device.
  for (const issue of check(ServiceSpecSchema, spec)) {
    issues.push(
      new ComposeIssue(
        [...base, ...issue.path.split('/').filter((s) => s !== '')],
        `normalised service ${issue.message}`,
      ),
    );
  }
  return issues.length > before ? null : spec;
}

/** Lists (ports, volumes, devices) from several keys add up (`volumes` and `tmpfs` both give mounts). */
function merge(spec: ServiceSpec, part: Partial<ServiceSpec>): ServiceSpec {
  const out: ServiceSpec = { ...spec, ...part };
  if (part.volumes) out.volumes = [...spec.volumes, ...part.volumes];
  if (part.ports) out.ports = [...spec.ports, ...part.ports];
  if (part.devices) out.devices = [...spec.devices, ...part.devices];
  if (part.dependsOn) out.dependsOn = { ...spec.dependsOn, ...part.dependsOn };
  return out;
}

function imageOf(name: string, service: JsonObject, pinned: string | undefined): string {
  if (pinned !== undefined) {
    const problem = digestReferenceProblem(pinned);
    if (problem !== null) throw new ComposeIssue(['images', name], `'${pinned}' ${problem}`);
    return pinned;
  }
  const image = service.image;
  if (typeof image === 'string') {
    const problem = digestReferenceProblem(image);
    if (problem === null) return image;
    // A reference that looks pinned but breaks the grammar would fail on every device: say what is wrong with it.
    if (image.includes('@'))
      return fail(['services', name, 'image'], `image '${image}' of service '${name}' ${problem}`);
  }
  if (service.build !== undefined) {
    return fail(
      ['services', name, 'build'],
      `service '${name}' is built from source but no image digest was given ` +
        'for it: push the release with the Skiff CLI, which builds, pushes and pins it',
    );
  }
  if (typeof image === 'string') {
    return fail(
      ['services', name, 'image'],
      `image '${image}' of service '${name}' is not pinned by digest: write it ` +
        'as REPOSITORY@sha256:<64 hex> (devices must run exactly what was released)',
    );
  }
  return fail(['services', name], `service '${name}' has neither image nor build`);
}

/** What makes `reference` one devices cannot fetch ("has tag ...: a tag is ..."); null when they can. */
function digestReferenceProblem(reference: string): string | null {
  try {
    parseDigestReference(reference);
    return null;
  } catch (err) {
    if (err instanceof ImageReferenceError) return err.problem;
    throw err;
  }
}

function fail(at: ComposePath, message: string): never {
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

function only(value: JsonObject, supported: readonly string[], at: ComposePath): void {
  const [first] = unsupportedKeys(value, supported, at);
  if (first) throw first;
}

const RESTART_POLICIES = ['no', 'always', 'unless-stopped', 'on-failure'] as const;
const HEALTHCHECK_KINDS = ['NONE', 'CMD', 'CMD-SHELL'];

/** How each supported service key becomes part of the spec: one rule per key of SUPPORTED.service. */
const SERVICE_FIELDS: Readonly<Record<SupportedServiceKey, FieldRule>> = {
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
      only(entry as JsonObject, SUPPORTED.port, at);
      return longPort(entry as unknown as LongPort, at);
    }),
  }),
  volumes: (value, f) => ({
    volumes: eachEntry(value, f, (entry, at) => {
      let mount: ReturnType<typeof shortVolume>;
      if (typeof entry === 'string') {
        mount = shortVolume(entry, at);
      } else {
        only(entry as JsonObject, SUPPORTED.mount, at);
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
        if (config !== null) only(config, SUPPORTED.serviceNetwork, at);
        networks[network] = { aliases: (config?.aliases as string[] | undefined) ?? [] };
      }
    }
    return { networks };
  },
  network_mode: (value, f) => {
    const mode = value as string;
    if (mode === 'host' || mode === 'none' || mode === 'bridge') return { networkMode: mode, networks: {} };
    if (mode.startsWith('service:') || mode.startsWith('container:')) {
      return fail(
        f.at,
        `network_mode '${mode}' is not supported by Skiff: sharing another container's network stack would ` +
          'need this container recreated whenever that one is; put both services on one network instead',
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
      if (typeof entry !== 'string') only(entry as JsonObject, SUPPORTED.device, at);
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
    for (const [other, config] of Object.entries(value as Record<string, JsonObject>)) {
      const at = [...f.at, other];
      only(config, SUPPORTED.dependency, at);
      if (config.required === false)
        fail([...at, 'required'], 'optional dependencies (required: false) are not supported by Skiff yet');
      f.refer('service', other, at);
      dependsOn[other] = config.condition as ServiceSpec['dependsOn'][string];
    }
    return { dependsOn };
  },
  healthcheck: (value, f) => {
    const hc = value as JsonObject;
    only(hc, SUPPORTED.healthcheck, f.at);
    if (hc.disable !== undefined && booleanOf(hc.disable as boolean | string, [...f.at, 'disable'])) {
      return { healthcheck: { test: ['NONE'] } };
    }
    const test = hc.test;
    if (test === undefined) {
      return fail(f.at, "a healthcheck without test (keeping the image's own check) is not supported by Skiff yet");
    }
    const words = typeof test === 'string' ? ['CMD-SHELL', test] : (test as string[]);
    if (!HEALTHCHECK_KINDS.includes(words[0] ?? '')) {
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
    const healthcheck: NonNullable<ServiceSpec['healthcheck']> = { test: words };
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
  cpus: (value, f) => {
    const cpus = Number(value);
    if (!Number.isFinite(cpus) || cpus < 0) return fail(f.at, `'${String(value)}' is not a number of CPUs (e.g. 0.5)`);
    return { cpus };
  },
  logging: (value, f) => {
    const logging = value as { driver?: string; options?: Record<string, string | number | null> };
    const options: Record<string, string> = {};
    for (const [key, option] of Object.entries(logging.options ?? {})) {
      if (option === null) return fail([...f.at, 'options', key], 'has no value');
      options[key] = String(option);
    }
    return { logging: { ...(logging.driver === undefined ? {} : { driver: logging.driver }), options } };
  },
};

/** depends_on must form no cycle, or no service of the cycle could ever start. */
function dependencyCycles(specs: readonly ServiceSpec[]): ComposeIssue[] {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const state = new Map<string, 'visiting' | 'done'>();
  const issues: ComposeIssue[] = [];
  const visit = (name: string, trail: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      issues.push(new ComposeIssue(['services', name, 'depends_on'], `dependency cycle: ${cycle.join(' -> ')}`));
      return;
    }
    state.set(name, 'visiting');
    for (const next of Object.keys(byName.get(name)?.dependsOn ?? {})) {
      if (byName.has(next)) visit(next, [...trail, name]);
    }
    state.set(name, 'done');
  };
  for (const spec of specs) visit(spec.name, []);
  return issues;
}

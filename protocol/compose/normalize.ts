// A compose file, as people write it, turned into the release's service specs as devices run them: YAML parsed,
// checked against the compose specification, every short form expanded to its long form, every image pinned by
// digest, every reference resolved. Shared by the API (on release creation) and the CLI (before pushing).
//
// Choices worth knowing (each key's own rules are in service-fields.ts):
// - A service with neither `networks` nor `network_mode` joins the network `default`, as in compose; `default` is
//   then part of the release's networks.
// - `profiles`: as with `docker compose up`, the release runs the services without profiles plus those of the
//   profiles it enables (NormalizeOptions.profiles; none by default). A required dependency on a service left out
//   is an error naming the profile to enable; an optional one (`required: false`) is dropped, as compose does.
// - `extends` within the file is resolved here (extends.ts); from another file by `skiff push`.
// - Variable interpolation ($VAR, ${VAR}) and env_file are resolved by `skiff push` on the developer's machine
//   (resolution.ts): a file that still holds them here is an error, since a device has no environment or
//   project folder to take values from. `$$` is a `$`.
// - Services, volumes and networks come out sorted by name, so equal files give equal target states.
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { check, ValidationError, type Issue } from '../validate.js';
import { ServiceSpecSchema, type NetworkDefinition, type ServiceSpec, type VolumeDefinition } from '../target-state.js';
import { ComposeIssue, formatPath, type ComposePath } from './path.js';
import { checkComposeSchema } from './schema.js';
import { hasVariables } from './interpolation.js';
import { ImageReferenceError, parseDigestReference } from '../image-reference.js';
import { SUPPORTED, unsupportedKeys } from './support.js';
import {
  SERVICE_FIELDS,
  fail,
  type FieldContext,
  type Json,
  type JsonObject,
  type Reference,
} from './service-fields.js';
import { NAME, networkDeclarations, volumeDeclarations } from './declarations.js';
import { resolveExtends } from './extends.js';
import { fileDeclarations, relativeBinds, serviceFiles, type LocalSources } from './files.js';

export interface NormalizedCompose {
  services: ServiceSpec[];
  /** Named volumes the file declares. */
  volumes: string[];
  /** Networks the file declares, plus `default` when a service uses it. */
  networks: string[];
  /** The declared networks and volumes that set more than their name; absent when none does. */
  networkDefinitions?: Record<string, NetworkDefinition>;
  volumeDefinitions?: Record<string, VolumeDefinition>;
}

const WHAT = 'compose file';
const DEFAULT_NETWORK = 'default';

export interface NormalizeOptions {
  /** Compose profiles the release enables; services of other profiles are left out. */
  profiles?: readonly string[];
  /** What is at the project-relative paths relative binds, configs and secrets name (files.ts); absent: none. */
  files?: LocalSources;
}

/**
 * Parses and normalises `yamlText`. `images` maps service names to digest references that replace the services'
 * `image` (the CLI fills it for services it built). Throws a ValidationError listing every problem found, each
 * with its compose path (`services.meter-reader.ports[0]`) and line.
 */
export function normalizeCompose(
  yamlText: string,
  images: Readonly<Record<string, string>>,
  options: NormalizeOptions = {},
): NormalizedCompose {
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
      const result = normalizeDocument(unescaped, images, options, issues);
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
  options: NormalizeOptions,
  issues: ComposeIssue[],
): NormalizedCompose {
  const profiles = options.profiles ?? [];
  const report = (issue: ComposeIssue): void => void issues.push(issue);
  const files: FileContext = {
    sources: options.files,
    configs: fileDeclarations(file.configs, 'config', report),
    secrets: fileDeclarations(file.secrets, 'secret', report),
  };
  issues.push(...unsupportedKeys(file, SUPPORTED.topLevel, [], 'topLevel'));
  const volumes = volumeDeclarations(file.volumes, issues);
  const networks = networkDeclarations(file.networks, issues);
  const all = resolveExtends((file.services ?? {}) as Record<string, JsonObject | null>, issues);
  // Left out by profiles: services that name profiles, none of them enabled.
  const leftOut = new Map<string, string[]>();
  const services: Record<string, JsonObject | null> = {};
  for (const [name, service] of Object.entries(all)) {
    const own = ((service?.profiles ?? []) as Json[]).map(String);
    if (own.length > 0 && !own.some((p) => profiles.includes(p))) leftOut.set(name, own);
    else services[name] = service;
  }
  const names = Object.keys(services);
  if (names.length === 0) {
    issues.push(
      new ComposeIssue(
        ['services'],
        leftOut.size > 0
          ? `a release needs at least one service; every service is in a profile not enabled (${[...leftOut.keys()].join(', ')})`
          : 'a release needs at least one service',
      ),
    );
  }
  for (const name of Object.keys(images)) {
    if (!(name in services) && !leftOut.has(name))
      issues.push(new ComposeIssue(['images', name], 'names no service of the compose file'));
  }

  const references: Reference[] = [];
  let specs: ServiceSpec[] = [];
  for (const name of names.sort()) {
    const spec = normalizeService(name, services[name] ?? {}, images[name], files, references, issues);
    if (spec) specs.push(spec);
  }

  const declared = {
    volume: new Set(volumes.names),
    network: new Set([...networks.names, DEFAULT_NETWORK]),
    service: new Set(names),
  };
  const plural = { volume: 'volumes', network: 'networks', service: 'services' } as const;
  const dropped = new Map<string, Set<string>>();
  for (const ref of references) {
    if (declared[ref.kind].has(ref.name)) continue;
    const profilesOf = ref.kind === 'service' ? leftOut.get(ref.name) : undefined;
    if (profilesOf !== undefined && ref.optional) {
      const service = String(ref.at[1]);
      dropped.set(service, (dropped.get(service) ?? new Set()).add(ref.name));
    } else if (profilesOf !== undefined) {
      issues.push(
        new ComposeIssue(
          ref.at,
          `service '${ref.name}' is in profile ${profilesOf.map((p) => `'${p}'`).join(' or ')}, which the release ` +
            'does not enable: enable it, or make the dependency optional (required: false)',
        ),
      );
    } else {
      issues.push(
        new ComposeIssue(ref.at, `${ref.kind} '${ref.name}' is not declared under the top-level ${plural[ref.kind]}`),
      );
    }
  }
  // Optional dependencies on services the release leaves out are no dependencies, as with compose.
  specs = specs.map((spec) => {
    const gone = dropped.get(spec.name);
    if (gone === undefined) return spec;
    const dependsOn = Object.fromEntries(Object.entries(spec.dependsOn).filter(([d]) => !gone.has(d)));
    const restartWith = spec.restartWith?.filter((d) => !gone.has(d));
    const { restartWith: _, ...rest } = spec;
    return restartWith === undefined || restartWith.length === 0
      ? { ...rest, dependsOn }
      : { ...rest, dependsOn, restartWith };
  });
  issues.push(...dependencyCycles(specs));

  const usesDefault = specs.some((s) => DEFAULT_NETWORK in s.networks);
  const allNetworks =
    usesDefault && !networks.names.includes(DEFAULT_NETWORK) ? [...networks.names, DEFAULT_NETWORK] : networks.names;
  return {
    services: specs,
    volumes: volumes.names,
    networks: allNetworks.sort(),
    ...(Object.keys(networks.definitions).length > 0 ? { networkDefinitions: networks.definitions } : {}),
    ...(Object.keys(volumes.definitions).length > 0 ? { volumeDefinitions: volumes.definitions } : {}),
  };
}

function normalizeService(
  name: string,
  service: JsonObject,
  pinned: string | undefined,
  files: FileContext,
  references: Reference[],
  issues: ComposeIssue[],
): ServiceSpec | null {
  const base: ComposePath = ['services', name];
  const before = issues.length;
  if (!NAME.test(name))
    issues.push(
      new ComposeIssue(base, `service name '${name}' must start with a letter or digit (at most 128 characters)`),
    );
  issues.push(...unsupportedKeys(service, SUPPORTED.service, base, 'service'));
  if (service.network_mode !== undefined && service.networks !== undefined) {
    issues.push(new ComposeIssue([...base, 'network_mode'], 'network_mode and networks exclude each other'));
  }
  if (typeof service.network_mode === 'string' && service.network_mode.startsWith('service:')) {
    // The engine refuses these beside a shared network namespace: they belong to the namespace's owner.
    for (const key of [
      'ports',
      'expose',
      'hostname',
      'domainname',
      'dns',
      'dns_search',
      'dns_opt',
      'extra_hosts',
      'mac_address',
      'links',
    ]) {
      if (service[key] !== undefined) {
        issues.push(
          new ComposeIssue(
            [...base, key],
            `cannot be set with network_mode '${service.network_mode}': the container uses that service's network ` +
              'stack, so set it there',
          ),
        );
      }
    }
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
    refer: (kind, ref, at, optional) =>
      references.push({ kind, name: ref, at, ...(optional === true ? { optional } : {}) }),
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
  spec = withFiles(spec, service, files, base, issues);
  if (spec.networkMode === undefined && spec.networkService === undefined && Object.keys(spec.networks).length === 0) {
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

interface FileContext {
  sources: LocalSources | undefined;
  /** Top-level configs and secrets: name to project-relative file. */
  configs: ReadonlyMap<string, string>;
  secrets: ReadonlyMap<string, string>;
}

/** Relative binds, configs and secrets as the files the release carries and the state folders it keeps. */
function withFiles(
  spec: ServiceSpec,
  service: JsonObject,
  files: FileContext,
  base: ComposePath,
  issues: ComposeIssue[],
): ServiceSpec {
  const report = (issue: ComposeIssue): void => void issues.push(issue);
  const binds = relativeBinds(spec.volumes, files.sources, [...base, 'volumes'], report);
  const mounts = [
    ...binds.files,
    ...(service.configs === undefined
      ? []
      : serviceFiles(service.configs, 'config', files.configs, files.sources, [...base, 'configs'], report)),
    ...(service.secrets === undefined
      ? []
      : serviceFiles(service.secrets, 'secret', files.secrets, files.sources, [...base, 'secrets'], report)),
  ];
  return {
    ...spec,
    volumes: binds.volumes,
    ...(mounts.length === 0 ? {} : { files: mounts }),
    ...(binds.state.length === 0 ? {} : { stateDirectories: binds.state }),
  };
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

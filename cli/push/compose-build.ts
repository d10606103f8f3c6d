// What `skiff push` must build: every compose service with `build`, where its context and Dockerfile are,
// which build args it gets, and the registry tag it is pushed under. Pure: reads only the compose text.
// The compose file as a whole is validated by the API (protocol/compose/normalize.ts); this reads just `build`.
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isPathComponent, isTag } from '../../protocol/image-reference.js';

export interface ServiceBuild {
  service: string;
  /** Absolute path of the build context. */
  context: string;
  /** Dockerfile path relative to the context, '/'-separated. */
  dockerfile: string;
  target?: string;
  buildArgs: Record<string, string>;
  /** REGISTRY/FLEET/SERVICE */
  repository: string;
  tag: string;
}

export interface BuildPlan {
  builds: ServiceBuild[];
  /** Compose `build` keys this tool does not apply, so nobody thinks they took effect. */
  warnings: string[];
}

export interface BuildPlanInput {
  composeText: string;
  /** Absolute folder of the compose file: relative contexts start there. */
  composeDir: string;
  registry: string;
  fleet: string;
  tag: string;
  /** `--build-arg K=V`: beats the compose file's args, for every service built. */
  buildArgOverrides: Record<string, string>;
  /** Where args listed without a value take it from, as compose does. */
  env: Record<string, string | undefined>;
}

export class ComposeBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ComposeBuildError';
  }
}

const SUPPORTED_BUILD_KEYS = new Set(['context', 'dockerfile', 'args', 'target']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function scalarText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** Compose args come as a map or as a list of "K=V" / "K"; a missing value is read from the environment. */
function composeArgs(service: string, raw: unknown, env: BuildPlanInput['env']): Record<string, string> {
  const args: Record<string, string> = {};
  const set = (key: string, value: string | undefined): void => {
    const resolved = value ?? env[key];
    if (resolved !== undefined) args[key] = resolved;
  };
  if (raw === undefined || raw === null) return args;
  if (Array.isArray(raw)) {
    for (const item of raw) {
      if (typeof item !== 'string')
        throw new ComposeBuildError(`service '${service}': build.args items must be "KEY=VALUE" strings`);
      const eq = item.indexOf('=');
      if (eq === -1) set(item, undefined);
      else set(item.slice(0, eq), item.slice(eq + 1));
    }
    return args;
  }
  if (isRecord(raw)) {
    for (const [key, value] of Object.entries(raw)) {
      if (value !== null && scalarText(value) === undefined) {
        throw new ComposeBuildError(`service '${service}': build.args.${key} must be a string or number`);
      }
      set(key, scalarText(value));
    }
    return args;
  }
  throw new ComposeBuildError(`service '${service}': build.args must be a map or a list`);
}

function planService(service: string, build: unknown, input: BuildPlanInput, warnings: string[]): ServiceBuild {
  if (!isPathComponent(service)) {
    throw new ComposeBuildError(
      `service '${service}': its name cannot be an image repository name (lower-case letters, digits, '.', '_', '-')`,
    );
  }
  if (typeof build !== 'string' && !isRecord(build)) {
    throw new ComposeBuildError(`service '${service}': build must be a path or a map`);
  }
  const spec: Record<string, unknown> = typeof build === 'string' ? { context: build } : build;
  for (const key of Object.keys(spec)) {
    if (!SUPPORTED_BUILD_KEYS.has(key))
      warnings.push(`service '${service}': build.${key} is not supported by skiff push and is ignored`);
  }
  const contextRaw = spec.context ?? '.';
  if (typeof contextRaw !== 'string' || contextRaw === '') {
    throw new ComposeBuildError(`service '${service}': build.context must be a path`);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(contextRaw)) {
    throw new ComposeBuildError(
      `service '${service}': build.context '${contextRaw}' is a URL; only local folders can be built`,
    );
  }
  const context = path.resolve(input.composeDir, contextRaw);

  const dockerfileRaw = spec.dockerfile ?? 'Dockerfile';
  if (typeof dockerfileRaw !== 'string' || dockerfileRaw === '') {
    throw new ComposeBuildError(`service '${service}': build.dockerfile must be a path`);
  }
  // The engine reads the Dockerfile from the context it is sent, so it must live inside it.
  const dockerfile = path.relative(context, path.resolve(context, dockerfileRaw));
  if (dockerfile.startsWith('..') || path.isAbsolute(dockerfile)) {
    throw new ComposeBuildError(
      `service '${service}': build.dockerfile '${dockerfileRaw}' is outside the build context ${context}`,
    );
  }

  const target = spec.target;
  if (target !== undefined && typeof target !== 'string') {
    throw new ComposeBuildError(`service '${service}': build.target must be a string`);
  }

  const repository = `${input.registry}/${input.fleet}/${service}`;
  return {
    service,
    context,
    dockerfile: dockerfile.split(path.sep).join('/'),
    ...(target === undefined ? {} : { target }),
    buildArgs: { ...composeArgs(service, spec.args, input.env), ...input.buildArgOverrides },
    repository,
    tag: input.tag,
  };
}

export function planBuilds(input: BuildPlanInput): BuildPlan {
  let doc: unknown;
  try {
    doc = parseYaml(input.composeText);
  } catch (err) {
    throw new ComposeBuildError(
      `the compose file is not valid YAML: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (!isRecord(doc) || !isRecord(doc.services)) {
    throw new ComposeBuildError('the compose file has no services map');
  }
  if (!isTag(input.tag)) throw new ComposeBuildError(`'${input.tag}' cannot be an image tag`);
  const warnings: string[] = [];
  const builds: ServiceBuild[] = [];
  for (const [service, definition] of Object.entries(doc.services)) {
    if (!isRecord(definition) || definition.build === undefined || definition.build === null) continue;
    builds.push(planService(service, definition.build, input, warnings));
  }
  return { builds, warnings };
}

/**
 * The image tag for a push: the release version made tag-safe, or the UTC time when no version is given,
 * so every push gets a tag of its own and the registry never loses the image a release points at.
 */
export function imageTag(version: string | undefined, now: Date): string {
  if (version === undefined) {
    const t = now.toISOString();
    return `${t.slice(0, 10).replace(/-/g, '')}-${t.slice(11, 19).replace(/:/g, '')}`;
  }
  const safe = version
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
  return safe === '' ? imageTag(undefined, now) : safe;
}

/** Parses repeated `--build-arg K=V` options into a map; the last one for a key wins. */
export function parseBuildArg(raw: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new ComposeBuildError(`--build-arg '${raw}' must be KEY=VALUE`);
  return { ...previous, [raw.slice(0, eq)]: raw.slice(eq + 1) };
}

/** The services that run a ready image (`image:` without `build`): what push checks against the fleet's platforms. */
export function imageServices(composeText: string): { service: string; image: string }[] {
  let doc: unknown;
  try {
    doc = parseYaml(composeText);
  } catch {
    return [];
  }
  if (!isRecord(doc) || !isRecord(doc.services)) return [];
  return Object.entries(doc.services).flatMap(([service, definition]) =>
    isRecord(definition) &&
    (definition.build === undefined || definition.build === null) &&
    typeof definition.image === 'string'
      ? [{ service, image: definition.image }]
      : [],
  );
}

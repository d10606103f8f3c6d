// `extends`: a service built on another one, as the compose specification merges them. Services of the same file
// are resolved wherever the file is normalised; those of another file only by `skiff push` (resolution.ts), which
// reads that file on the developer's machine and sends the merged service.
//
// Merge rules (the specification's): mappings merge key by key, the extending service winning; `environment`,
// `labels`, `sysctls`, `extra_hosts` and `depends_on` merge by key whether written as lists or maps; `volumes` and
// `devices` merge by container path; `command`, `entrypoint` and a healthcheck's `test` are replaced; other lists
// are appended without duplicates; scalars are replaced.
import { ComposeIssue, type ComposePath } from './path.js';
import type { Json, JsonObject } from './service-fields.js';

type Services = Record<string, JsonObject | null>;

const REPLACED = new Set(['command', 'entrypoint', 'test']);
const BY_KEY = new Set(['environment', 'labels', 'sysctls', 'extra_hosts', 'depends_on', 'annotations']);
const BY_TARGET = new Set(['volumes', 'devices']);

/** Lists of KEY=VALUE (or KEY:VALUE for extra_hosts, NAME for depends_on) as the map form. */
function asMap(key: string, value: Json): JsonObject {
  if (!Array.isArray(value)) return (value ?? {}) as JsonObject;
  const out: JsonObject = {};
  for (const entry of value) {
    const text = String(entry);
    if (key === 'depends_on') out[text] = { condition: 'service_started' };
    else {
      const sep = key === 'extra_hosts' ? /[=:]/.exec(text) : /=/.exec(text);
      if (sep === null) out[text] = null;
      else out[text.slice(0, sep.index)] = text.slice(sep.index + 1);
    }
  }
  return out;
}

function targetOf(entry: Json): string {
  if (typeof entry === 'string') {
    const parts = entry.split(':');
    return parts.length === 1 ? (parts[0] ?? '') : (parts[1] ?? '');
  }
  const long = entry as JsonObject;
  return String(long.target ?? long.source ?? '');
}

function mergeValues(key: string, base: Json | undefined, own: Json): Json {
  if (base === undefined || REPLACED.has(key)) return own;
  if (BY_KEY.has(key)) return mergeMaps(asMap(key, base), asMap(key, own));
  if (BY_TARGET.has(key) && Array.isArray(base) && Array.isArray(own)) {
    const byTarget = new Map<string, Json>();
    for (const entry of [...base, ...own]) byTarget.set(targetOf(entry), entry);
    return [...byTarget.values()];
  }
  if (Array.isArray(base) && Array.isArray(own)) {
    const seen = new Set<string>();
    return [...base, ...own].filter((entry) => {
      const id = JSON.stringify(entry);
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
  }
  if (isObject(base) && isObject(own)) return mergeMaps(base, own);
  return own;
}

function isObject(value: Json | undefined): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function mergeMaps(base: JsonObject, own: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [key, value] of Object.entries(own)) out[key] = mergeValues(key, base[key], value);
  return out;
}

/** The extended service merged with what it extends. */
export function mergeService(base: JsonObject, own: JsonObject): JsonObject {
  const { extends: _, ...rest } = own;
  const { extends: __, ...baseRest } = base;
  return mergeMaps(baseRest, rest);
}

/** Where a service's `extends` points: the service, and the file when another one. */
export function extendsOf(service: JsonObject): { service: string; file?: string } | undefined {
  const value = service.extends;
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return { service: value };
  const target = value as JsonObject;
  return {
    service: String(target.service),
    ...(typeof target.file === 'string' ? { file: target.file } : {}),
  };
}

/**
 * Every service with an in-file `extends` merged with its base (bases first, so chains work). A service that
 * extends one of another file is left to `skiff push`; here it is an error saying so.
 */
export function resolveExtends(services: Services, issues: ComposeIssue[]): Services {
  const out: Services = { ...services };
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, trail: string[]): JsonObject | null => {
    const service = out[name] ?? null;
    if (service === null || state.get(name) === 'done') return service;
    const at: ComposePath = ['services', name, 'extends'];
    const target = extendsOf(service);
    if (target === undefined) {
      state.set(name, 'done');
      return service;
    }
    if (state.get(name) === 'visiting') {
      issues.push(new ComposeIssue(at, `extends cycle: ${[...trail, name].join(' -> ')}`));
      return null;
    }
    if (target.file !== undefined) {
      issues.push(
        new ComposeIssue(
          at,
          `extends a service of ${target.file}, which only \`skiff push\` can read (from the developer's machine): ` +
            'push with `skiff push`',
        ),
      );
      state.set(name, 'done');
      return service;
    }
    if (!(target.service in services)) {
      issues.push(new ComposeIssue(at, `extends '${target.service}', which is no service of this file`));
      state.set(name, 'done');
      return service;
    }
    state.set(name, 'visiting');
    const base = visit(target.service, [...trail, name]);
    const merged = base === null ? service : mergeService(base, service);
    out[name] = merged;
    state.set(name, 'done');
    return merged;
  };
  for (const name of Object.keys(services)) visit(name, []);
  return out;
}

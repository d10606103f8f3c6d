// The compose file as `skiff push` sends it: everything that depends on the developer's machine resolved, so the
// release holds what devices will run and nothing a device could not know.
// - Variables ($VAR, ${VAR:-default}, ...) in values are replaced (interpolation.ts); keys are never
//   interpolated, as in compose.
// - `env_file` files are read and merged into `environment` (the file's entries first, `environment` wins, as in
//   compose); their values are literal (not interpolated), so their `$` are escaped.
// - `environment` entries without a value (`- KEY`, `KEY:`) take the variable's value when it is set, as compose
//   takes them from the shell; unset ones stay and the normaliser reports them. An env file marked
//   `required: false` that does not exist is skipped, as compose skips it.
// - `extends: {file, service}` is replaced by the merged service (extends.ts), the other file read and resolved
//   with the same variables. Paths in it are taken relative to the compose file's folder, not the other file's.
// The YAML document is edited in place, so comments and layout survive in the release's compose text.
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  parseDocument,
  visit,
  type Document,
  type Node,
  type Pair,
  type Scalar,
  type YAMLMap,
} from 'yaml';
import { ComposeIssue, formatPath, type ComposePath } from './path.js';
import { escapeDollars, interpolate, type Variables } from './interpolation.js';
import { ValidationError } from '../validate.js';
import { extendsOf, mergeService, resolveExtends } from './extends.js';
import type { JsonObject } from './service-fields.js';

export interface ResolutionInput {
  variables: Variables;
  /** Reads one env_file (as written in the compose file, relative to its folder) into its entries. */
  readEnvFile(file: string, at: ComposePath): Record<string, string>;
  /** Reads another compose file (`extends.file`, relative to the compose file's folder); absent: none can be read. */
  readComposeFile?(file: string, at: ComposePath): string;
}

export function resolveCompose(yamlText: string, input: ResolutionInput): string {
  const doc = parseDocument(yamlText, { merge: true, uniqueKeys: true });
  // Syntax errors are the normaliser's to report, with lines; send such a file as it is.
  if (doc.errors.length > 0) return yamlText;
  const issues: ComposeIssue[] = [];
  let changed = false;
  const attempt = (fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof ComposeIssue)) throw err;
      issues.push(err);
    }
  };

  // Before variables are resolved, so the extending service's own values are resolved like the rest of the file.
  attempt(() => {
    if (resolveFileExtends(doc, input)) changed = true;
  });

  visit(doc, {
    Scalar(key, node, ancestors) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return;
      const value = node.value;
      attempt(() => {
        const resolved = interpolate(value, input.variables, pathOf(ancestors, node));
        if (resolved === value) return;
        node.value = resolved;
        changed = true;
        // Quoted: a resolved "8080:80" must stay the string compose would read, whatever the YAML version.
        node.type = 'QUOTE_DOUBLE';
      });
    },
  });

  const services = doc.get('services', true);
  if (isMap(services)) {
    for (const pair of services.items) {
      const { key, value: service } = pair;
      if (!isScalar(key) || !isMap(service)) continue;
      attempt(() => {
        if (resolveEnvironment(doc, String(key.value), service, input)) changed = true;
      });
    }
  }
  if (issues.length > 0) {
    throw new ValidationError(
      'compose file',
      issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
    );
  }
  // A file with nothing to resolve goes out byte for byte as written.
  return changed ? doc.toString() : yamlText;
}

/** True when it changed the service. */
function resolveEnvironment(doc: Document, service: string, node: YAMLMap, input: ResolutionInput): boolean {
  const at = ['services', service];
  const envFile = node.get('env_file', true);
  const environment = node.get('environment', true);
  const fromFiles: Record<string, string> = {};
  if (envFile !== undefined) {
    for (const [file, where, optional] of envFiles(envFile, [...at, 'env_file'])) {
      let entries: Record<string, string>;
      try {
        entries = input.readEnvFile(file, where);
      } catch (err) {
        // The reader's ComposeIssue says the file is missing; an optional file is then skipped, as compose does.
        if (optional && err instanceof ComposeIssue) continue;
        throw err;
      }
      for (const [key, value] of Object.entries(entries)) fromFiles[key] = escapeDollars(value);
    }
  }
  const own = environmentEntries(environment, [...at, 'environment']);
  let changed = envFile !== undefined;
  for (const [key, value] of Object.entries(own)) {
    if (value !== null) continue;
    const fromShell = input.variables[key];
    if (fromShell !== undefined) {
      own[key] = escapeDollars(fromShell);
      changed = true;
    }
  }
  if (!changed) return false;
  node.delete('env_file');
  node.set('environment', doc.createNode({ ...fromFiles, ...own }));
  return true;
}

/** env_file: a path, a list of paths, or (compose spec) a list of {path, required}. */
function envFiles(value: unknown, at: ComposePath): [string, ComposePath, boolean][] {
  if (isScalar(value) && typeof value.value === 'string') return [[value.value, at, false]];
  if (!isSeq(value)) throw new ComposeIssue(at, 'must be a path or a list of paths');
  return value.items.flatMap((item, i): [string, ComposePath, boolean][] => {
    const where = [...at, i];
    if (isScalar(item) && typeof item.value === 'string') return [[item.value, where, false]];
    if (isMap(item)) {
      const file = item.get('path');
      if (typeof file !== 'string') throw new ComposeIssue([...where, 'path'], 'must be the path of the file');
      return [[file, where, item.get('required') === false]];
    }
    throw new ComposeIssue(where, 'must be a path');
  });
}

/** environment in either form as KEY -> value text, null for a KEY without a value. */
function environmentEntries(value: unknown, at: ComposePath): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (value === undefined) return out;
  if (isMap(value)) {
    for (const pair of value.items) {
      if (!isScalar(pair.key)) throw new ComposeIssue(at, 'keys must be variable names');
      out[String(pair.key.value)] = isScalar(pair.value) && pair.value.value !== null ? String(pair.value.value) : null;
    }
    return out;
  }
  if (isSeq(value)) {
    value.items.forEach((item, i) => {
      if (!isScalar(item)) throw new ComposeIssue([...at, i], 'must be KEY=VALUE');
      const entry = String(item.value);
      const eq = entry.indexOf('=');
      out[eq < 0 ? entry : entry.slice(0, eq)] = eq < 0 ? null : entry.slice(eq + 1);
    });
    return out;
  }
  throw new ComposeIssue(at, 'must be a map or a list of KEY=VALUE');
}

/** The compose path of `node` from visit's ancestors: map keys and sequence indexes. */
function pathOf(ancestors: readonly unknown[], node: Scalar): ComposePath {
  const path: (string | number)[] = [];
  const chain = [...ancestors, node];
  for (let i = 0; i < chain.length - 1; i++) {
    const parent = chain[i];
    const child = chain[i + 1];
    if (isPair(parent)) continue;
    if (isMap(parent) && isPair(child)) {
      const key = (child as Pair).key;
      path.push(isScalar(key) ? String(key.value) : '?');
    } else if (isSeq(parent)) {
      path.push(parent.items.indexOf(child as Node));
    }
  }
  return path;
}

/** Services extending one of another file, merged with it. True when it changed the document. */
function resolveFileExtends(doc: Document, input: ResolutionInput): boolean {
  const services = doc.get('services', true);
  if (!isMap(services)) return false;
  let changed = false;
  for (const pair of services.items) {
    if (!isScalar(pair.key) || !isMap(pair.value)) continue;
    const name = String(pair.key.value);
    const own = pair.value.toJSON() as JsonObject;
    const target = extendsOf(own);
    if (target?.file === undefined) continue;
    const at: ComposePath = ['services', name, 'extends'];
    if (input.readComposeFile === undefined) throw new ComposeIssue(at, `cannot read ${target.file} here`);
    const text = resolveCompose(input.readComposeFile(target.file, at), input);
    const other = parseDocument(text, { merge: true }).toJS() as { services?: Record<string, JsonObject | null> };
    const issues: ComposeIssue[] = [];
    const bases = resolveExtends(other?.services ?? {}, issues);
    const [issue] = issues;
    if (issue) throw new ComposeIssue(at, `in ${target.file}: ${formatPath(issue.path)} ${issue.message}`);
    const base = bases[target.service];
    if (base === undefined || base === null) {
      throw new ComposeIssue(at, `${target.file} has no service '${target.service}'`);
    }
    pair.value = doc.createNode(mergeService(base, own));
    changed = true;
  }
  return changed;
}

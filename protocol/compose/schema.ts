// Checks a parsed compose file against the official compose specification schema (vendored, draft-07) and says
// what is wrong in compose terms: one message per place, not one per oneOf branch ajv tried.
import { Ajv, type ErrorObject } from 'ajv';
import composeSpec from './compose-spec.json' with { type: 'json' };
import type { ComposePath } from './path.js';

export interface SchemaIssue {
  path: ComposePath;
  message: string;
}

// The vendored file names its meta-schema by an https URL ajv does not know; the schema itself is trusted.
const validate = new Ajv({ allErrors: true, strict: false, validateSchema: false }).compile(composeSpec);

export function checkComposeSchema(value: unknown): SchemaIssue[] {
  if (validate(value)) return [];
  return relevant(validate.errors ?? []).map((group) => ({
    path: pathOf(value, group.pointer, group.extraKey),
    message: group.message,
  }));
}

interface Group {
  pointer: string;
  extraKey?: string;
  message: string;
}

/**
 * ajv reports every failed branch of every oneOf. People need the branch they meant: drop the oneOf summaries and
 * the "must be <type>" of branches that failed on type when something more specific was found at or below
 * the same place, and merge the type errors that remain into one "must be a or b".
 */
function relevant(errors: readonly ErrorObject[]): Group[] {
  const pointers = errors.map((e) => e.instancePath);
  const deeper = (p: string): boolean => pointers.some((q) => q.startsWith(`${p}/`));
  const specificAt = (p: string): boolean =>
    errors.some((e) => e.instancePath === p && !['type', 'oneOf', 'anyOf', 'if'].includes(e.keyword));

  const groups: Group[] = [];
  const typesAt = new Map<string, string[]>();
  for (const e of errors) {
    const p = e.instancePath;
    if (['oneOf', 'anyOf', 'if'].includes(e.keyword)) {
      if (!deeper(p) && !errors.some((o) => o.instancePath === p && o !== e && o.keyword !== 'type')) {
        groups.push({ pointer: p, message: e.message ?? 'is invalid' });
      }
      continue;
    }
    if (e.keyword === 'type') {
      if (deeper(p) || specificAt(p)) continue;
      const t = (e.params as { type: string | string[] }).type;
      typesAt.set(p, [...(typesAt.get(p) ?? []), ...(Array.isArray(t) ? t : [t])]);
      continue;
    }
    if (e.keyword === 'additionalProperties') {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      groups.push({ pointer: p, extraKey: key, message: 'is not a field of the compose specification' });
      continue;
    }
    if (e.keyword === 'enum') {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      groups.push({ pointer: p, message: `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}` });
      continue;
    }
    groups.push({ pointer: p, message: e.message ?? 'is invalid' });
  }
  for (const [p, types] of typesAt) {
    const unique = [...new Set(types)];
    groups.push({
      pointer: p,
      message: `must be ${unique.length > 1 ? `${unique.slice(0, -1).join(', ')} or ${unique.at(-1)}` : unique[0]}`,
    });
  }
  const seen = new Set<string>();
  return groups.filter((g) => {
    const key = `${g.pointer}\u0000${g.extraKey ?? ''}\u0000${g.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A JSON pointer into `value` as compose path segments; array indexes stay numbers. */
function pathOf(value: unknown, pointer: string, extraKey: string | undefined): ComposePath {
  const segments: (string | number)[] = [];
  let node: unknown = value;
  for (const raw of pointer === '' ? [] : pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      segments.push(Number(key));
      node = node[Number(key)];
    } else {
      segments.push(key);
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
    }
  }
  if (extraKey !== undefined) segments.push(extraKey);
  return segments;
}

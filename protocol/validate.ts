// Runtime validation of wire data against the protocol's schemas: one validator per schema, precompiled at
// build time where the build made one, else compiled by ajv at first use (schema-compiler.ts); errors as
// (path, message) pairs that say what is wrong and where.
import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';
import type { Static, TSchema } from '@sinclair/typebox';
import { createAjv, precompiledValidator, schemaKey } from './schema-compiler.js';

export interface Issue {
  /** JSON pointer into the validated value ("" is the value itself). */
  path: string;
  message: string;
}

export class ValidationError extends Error {
  constructor(
    readonly what: string,
    readonly issues: Issue[],
  ) {
    super(`${what} is invalid: ${issues.map((i) => `${i.path || '/'}: ${i.message}`).join('; ')}`);
    this.name = 'ValidationError';
  }
}

let ajv: Ajv | undefined;
const compiled = new WeakMap<TSchema, ValidateFunction>();
/** By schema key too: a schema built anew on every call (a query's row type) is still compiled only once. */
const byKey = new Map<string, ValidateFunction>();

export function issuesOf(errors: ErrorObject[] | null | undefined): Issue[] {
  return (errors ?? []).map((e) => {
    const extra =
      e.keyword === 'additionalProperties'
        ? `: '${String((e.params as { additionalProperty: string }).additionalProperty)}'`
        : e.keyword === 'enum' || e.keyword === 'const'
          ? ` (${JSON.stringify(e.params)})`
          : '';
    return { path: e.instancePath, message: `${e.message ?? 'is invalid'}${extra}` };
  });
}

function validatorFor(schema: TSchema): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    const key = schemaKey(schema);
    v = byKey.get(key) ?? precompiledValidator(key) ?? (ajv ??= createAjv()).compile(schema);
    byKey.set(key, v);
    compiled.set(schema, v);
  }
  return v;
}

/** Returns the issues of `value` against `schema`; empty when it conforms. */
export function check(schema: TSchema, value: unknown): Issue[] {
  const v = validatorFor(schema);
  return v(value) ? [] : issuesOf(v.errors);
}

/** Narrows `value` to the schema's type or throws a ValidationError naming `what` and every issue. */
export function parse<T extends TSchema>(schema: T, value: unknown, what: string): Static<T> {
  const issues = check(schema, value);
  if (issues.length > 0) throw new ValidationError(what, issues);
  return value as Static<T>;
}

// Runtime validation of wire data against the protocol's schemas: one compiled validator per schema,
// errors as (path, message) pairs that say what is wrong and where.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { Static, TSchema } from '@sinclair/typebox';

// ajv-formats ships CommonJS with a default export; under NodeNext it arrives as the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export interface Issue {
  /** JSON pointer into the validated value ("" is the value itself). */
  path: string;
  message: string;
}

export class ValidationError extends Error {
  constructor(readonly what: string, readonly issues: Issue[]) {
    super(`${what} is invalid: ${issues.map((i) => `${i.path || '/'}: ${i.message}`).join('; ')}`);
    this.name = 'ValidationError';
  }
}

const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));
const compiled = new WeakMap<TSchema, ValidateFunction>();

export function issuesOf(errors: ErrorObject[] | null | undefined): Issue[] {
  return (errors ?? []).map((e) => {
    const extra = e.keyword === 'additionalProperties'
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
    v = ajv.compile(schema);
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

// How a protocol schema becomes a validator function, for both ways one is made: compiled by ajv at first use,
// or precompiled at build time (validators-build.ts writes ajv's standalone code, one CommonJS module per schema).
// Both use the same ajv options, and a precompiled validator is found by the hash of the schema's JSON: what ajv
// reads of a schema is its JSON (TypeBox keeps its own markers under symbols), so equal JSON is equal validation,
// and a schema changed since the build simply has no precompiled validator.
// ajv and ajv-formats are required on demand: a process whose schemas are all precompiled (the device's) never
// loads ajv's compiler.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ajv, Options, ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';

const requireHere = createRequire(import.meta.url);

/** Where the build step puts the precompiled validators: beside this module, in the compiled tree. */
export const PRECOMPILED_DIR = fileURLToPath(new URL('./validators/', import.meta.url));

/** A precompiled validator's name: the SHA-256 of the schema's JSON. */
export function schemaKey(schema: TSchema): string {
  return createHash('sha256').update(JSON.stringify(schema)).digest('hex');
}

/** An ajv instance with the options every Skiff validator is made with (`extra` may only add code options). */
export function createAjv(extra: Pick<Options, 'code'> = {}): Ajv {
  const { Ajv: AjvClass } = requireHere('ajv') as typeof import('ajv');
  const addFormats = (requireHere('ajv-formats') as typeof import('ajv-formats')).default;
  return addFormats(new AjvClass({ allErrors: true, strict: false, ...extra }));
}

/** The validator precompiled for `key` in `dir`, or undefined when the build made none. */
export function precompiledValidator(key: string, dir: string = PRECOMPILED_DIR): ValidateFunction | undefined {
  const file = path.join(dir, `${key}.cjs`);
  if (!existsSync(file)) return undefined;
  const validate = requireHere(file) as unknown;
  if (typeof validate !== 'function')
    throw new Error(`${file} does not export a validator: rebuild it (node dist/protocol/validators-build.js)`);
  return validate as ValidateFunction;
}

/** ajv's standalone code for `schema`: a CommonJS module that exports its validator. */
export function standaloneValidatorCode(schema: TSchema): string {
  const standaloneCode = (requireHere('ajv/dist/standalone/index.js') as typeof import('ajv/dist/standalone/index.js'))
    .default;
  const ajv = createAjv({ code: { source: true } });
  // Compiled from the JSON, the very text its key hashes, so the code cannot depend on anything the key leaves out.
  return standaloneCode(ajv, ajv.compile(JSON.parse(JSON.stringify(schema)) as TSchema));
}

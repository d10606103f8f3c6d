// The build step behind validators-build.ts: finds the schemas the device side exports and writes their
// precompiled validators (schema-compiler.ts). Only exported schemas can be found; one that is not is compiled at
// first use, as every schema was before.
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kind, type TSchema } from '@sinclair/typebox';
import { schemaKey, standaloneValidatorCode } from './schema-compiler.js';

/** The compiled folders whose modules' schemas are precompiled: what a device runs. */
export const DEVICE_SIDE = ['protocol', 'supervisor'] as const;

/** Entry points run when imported, so they are not searched (their schemas live in the modules they import). */
const ENTRY_POINTS = new Set(['main.js', 'validators-build.js']);

export interface FoundSchema {
  /** Where it is exported, e.g. "supervisor/config.js#SupervisorConfigSchema". */
  where: string;
  schema: TSchema;
}

function isSchema(value: unknown): value is TSchema {
  return typeof value === 'object' && value !== null && Kind in value;
}

async function modulesUnder(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await modulesUnder(file)));
    else if (entry.isFile() && entry.name.endsWith('.js')) files.push(file);
  }
  return files.sort();
}

/** Every schema exported by a module under `folders` of the compiled tree `root`, once per key. */
export async function exportedSchemas(
  root: string,
  folders: readonly string[] = DEVICE_SIDE,
): Promise<Map<string, FoundSchema>> {
  const found = new Map<string, FoundSchema>();
  for (const folder of folders) {
    for (const file of await modulesUnder(path.join(root, folder))) {
      const relative = path.relative(root, file);
      if (ENTRY_POINTS.has(path.basename(file))) continue;
      let exports: Record<string, unknown>;
      try {
        exports = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
      } catch (err) {
        throw new Error(
          `cannot import ${relative} to find its schemas: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      }
      for (const [name, value] of Object.entries(exports)) {
        if (!isSchema(value)) continue;
        const key = schemaKey(value);
        if (!found.has(key)) found.set(key, { where: `${relative}#${name}`, schema: value });
      }
    }
  }
  return found;
}

/** Replaces `dir` with one precompiled validator module per schema. */
export async function writeValidators(dir: string, schemas: Map<string, FoundSchema>): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const [key, { where, schema }] of schemas) {
    let code: string;
    try {
      code = standaloneValidatorCode(schema);
    } catch (err) {
      throw new Error(`cannot precompile the schema ${where}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
    await writeFile(path.join(dir, `${key}.cjs`), `// ${where}, precompiled by validators-build.js\n${code}\n`);
  }
}

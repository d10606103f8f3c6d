// Build step, run after tsc (npm run build, scripts/deps.sh): `node dist/protocol/validators-build.js` precompiles
// the validators of every schema the device side exports into dist/protocol/validators/. Generated, not checked
// in: they follow the schemas of the tree they are built with, and a stale one could not be used anyway (its key
// is its schema's hash). Why: a supervisor then validates with plain functions and never loads ajv's compiler
// (about 60 modules, and the code it generates at run time), which a 1 GB device pays for in resident memory.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportedSchemas, writeValidators } from './precompiled-validators.js';
import { PRECOMPILED_DIR } from './schema-compiler.js';

async function main(): Promise<void> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const schemas = await exportedSchemas(root);
  await writeValidators(PRECOMPILED_DIR, schemas);
  process.stdout.write(
    `validators-build: ${schemas.size} schemas precompiled into ${path.relative(process.cwd(), PRECOMPILED_DIR) || '.'}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`validators-build failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

// Where a bench finds the components it measures: the environment `scripts/env.sh up ENV` describes in
// .skiff/ENV/env.json (SKIFF_ENV_FILE names another; .skiff/test by default). Only what the benches use of it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from '@sinclair/typebox';
import { parse } from '../../protocol/validate.js';

const BenchEnvSchema = Type.Object({
  /** Engine that builds and pushes the images (the developer's machine). */
  devDockerHost: Type.String({ minLength: 1 }),
  /** Engine the device supervisor manages (the Pi). */
  deviceDockerHost: Type.String({ minLength: 1 }),
  /** host:port of the environment's registry. */
  registry: Type.String({ minLength: 1 }),
});
export type BenchEnv = Static<typeof BenchEnvSchema>;

/** The compiled tree this bench runs from (dist/), and the repository around it. */
export const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const repoRoot = path.resolve(distRoot, '..');

export function loadBenchEnv(): BenchEnv {
  const file = process.env.SKIFF_ENV_FILE ?? path.join(repoRoot, '.skiff', 'test', 'env.json');
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`no environment at ${file}: start one with 'bash scripts/env.sh up test' (${String(err)})`);
  }
  return parse(BenchEnvSchema, JSON.parse(raw), `environment file ${file}`);
}

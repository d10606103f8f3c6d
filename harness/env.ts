// Where the real components of a test environment are: written by `scripts/env.sh up ENV`
// as .skiff/ENV/env.json. Tests never start or touch anything that file does not name.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface TestEnv {
  /** Root folder of this environment's state (.skiff/ENV). */
  root: string;
  /** Engine used to build and push images (the developer's machine). */
  devDockerHost: string;
  /** Engine the device supervisor manages (the Pi). */
  deviceDockerHost: string;
  /** host:port of the distribution registry, bound to 127.0.0.1. */
  registry: string;
  redisUrl: string;
  /** The environment's PostgreSQL (database 'skiff', trust auth on 127.0.0.1): the store's second backend. */
  postgresUrl: string;
  /** Ports reserved for this environment's API and device-local API. */
  apiPort: number;
  deviceApiPort: number;
  /** The second registry, with token auth: registry-api on apiPort is its token server. */
  authRegistry: {
    /** host:port, bound to 127.0.0.1. */
    address: string;
    service: string;
    issuer: string;
    /** EC P-256 key whose certificate the registry trusts (SKIFF_REGISTRY_TOKEN_KEY_FILE). */
    tokenKeyFile: string;
  };
}

/** The compiled tree this code runs from (dist/, or a private dist-NAME/ a developer built beside it). */
export const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = path.resolve(distRoot, '..');

export function loadTestEnv(): TestEnv {
  const file = process.env.SKIFF_ENV_FILE ?? path.join(repoRoot, '.skiff', 'test', 'env.json');
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`no test environment at ${file}: start it with 'bash scripts/env.sh up test' (${String(err)})`);
  }
  return JSON.parse(raw) as TestEnv;
}

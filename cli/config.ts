// Where the CLI finds the API and its token: a flag beats the environment, which beats the config file that
// `skiff login` writes. Each setting is resolved on its own, so `--api` can point a saved token elsewhere.
import { mkdir, readFile, rename, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { parse } from '../protocol/validate.js';

export const ConfigFileSchema = Type.Object({
  apiUrl: Type.Optional(Type.String({ minLength: 1 })),
  apiToken: Type.Optional(Type.String({ minLength: 1 })),
});
export type ConfigFile = Static<typeof ConfigFileSchema>;

export type Source = 'flag' | 'env' | 'file';

export interface Setting {
  value: string;
  source: Source;
}

export interface ResolvedConfig {
  apiUrl: Setting | null;
  apiToken: Setting | null;
}

export interface ConfigInputs {
  flags: { api?: string | undefined; token?: string | undefined };
  env: NodeJS.ProcessEnv;
  file: ConfigFile;
}

function pick(candidates: Array<[string | undefined, Source]>): Setting | null {
  for (const [value, source] of candidates) {
    if (value !== undefined && value !== '') return { value, source };
  }
  return null;
}

export function resolveConfig({ flags, env, file }: ConfigInputs): ResolvedConfig {
  return {
    apiUrl: pick([
      [flags.api, 'flag'],
      [env.SKIFF_API_URL, 'env'],
      [file.apiUrl, 'file'],
    ]),
    apiToken: pick([
      [flags.token, 'flag'],
      [env.SKIFF_API_TOKEN, 'env'],
      [file.apiToken, 'file'],
    ]),
  };
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SKIFF_CONFIG) return env.SKIFF_CONFIG;
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'skiff', 'config.json');
}

/** The saved config, or an empty one when none was saved yet; a damaged file is an error, not a silent reset. */
export async function readConfigFile(file: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`cannot read the config file ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`the config file ${file} is not JSON: ${(err as Error).message}`);
  }
  return parse(ConfigFileSchema, value, `the config file ${file}`);
}

/** Writes atomically with mode 0600: the file holds a token. */
export async function writeConfigFile(file: string, config: ConfigFile): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // The mode given to writeFile is masked by the umask; chmod makes 0600 exact.
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

/** Normalises an API base URL so path joining never doubles or drops a slash. */
export function normalizeApiUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`the API URL '${raw}' is not a URL (expected e.g. http://127.0.0.1:8080)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`the API URL '${raw}' must start with http:// or https://`);
  }
  return url.toString().replace(/\/+$/, '');
}

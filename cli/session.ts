// What every command gets: where its output goes, the environment and the clock it sees, and an API client
// built from the resolved config.
import type { Command } from 'commander';
import { ApiClient } from './api-client.js';
import { configPath, normalizeApiUrl, readConfigFile, resolveConfig, type ResolvedConfig } from './config.js';

export interface Io {
  /** Results: tables, JSON, ids (what a script pipes on). */
  stdout(text: string): void;
  /** Progress and hints for the person watching. */
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  now(): Date;
}

export interface GlobalOptions {
  api?: string;
  token?: string;
}

export const processIo: Io = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
  now: () => new Date(),
};

/** Flags and environment first; the config file is read only when they leave a setting open. */
export async function configFor(cmd: Command, io: Io): Promise<ResolvedConfig> {
  const { api, token } = cmd.optsWithGlobals<GlobalOptions>();
  const flags = { api, token };
  const withoutFile = resolveConfig({ flags, env: io.env, file: {} });
  if (withoutFile.apiUrl !== null && withoutFile.apiToken !== null) return withoutFile;
  return resolveConfig({ flags, env: io.env, file: await readConfigFile(configPath(io.env)) });
}

export async function clientFor(cmd: Command, io: Io): Promise<ApiClient> {
  const config = await configFor(cmd, io);
  if (config.apiUrl === null) {
    throw new Error(
      'no Skiff API is configured: pass --api URL, set SKIFF_API_URL, or run `skiff login --api URL --token TOKEN`',
    );
  }
  return new ApiClient({ baseUrl: normalizeApiUrl(config.apiUrl.value), token: config.apiToken?.value ?? null });
}

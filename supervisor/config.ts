// The device's own settings: DATA_DIR/config.json. Written by whoever provisions the device (image builder, CLI)
// and completed by the supervisor itself (uuid on first start, deviceKey after registration).
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { parse } from '../protocol/validate.js';
import { messageOf } from '../lib/errors.js';
import { writeFileAtomic } from './atomic-file.js';

export const CONFIG_FILE = 'config.json';

export const SupervisorConfigSchema = Type.Object({
  /** Base URL of registry-api, e.g. https://skiff.example.com */
  apiUrl: Type.String({ minLength: 1 }),
  fleet: Type.String({ minLength: 1 }),
  provisioningKey: Type.String({ minLength: 16 }),
  deviceType: Type.String({ minLength: 1 }),
  /** Chosen by the device once and kept, so a repeated registration is the same device. */
  uuid: Type.Optional(Type.String({ minLength: 8, maxLength: 64, pattern: '^[a-zA-Z0-9-]+$' })),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /** DOCKER_HOST-style address of the engine to manage; the environment's DOCKER_HOST when absent. */
  dockerHost: Type.Optional(Type.String({ minLength: 1 })),
  /** Issued by the API at registration. */
  deviceKey: Type.Optional(Type.String({ minLength: 1 })),
});
export type SupervisorConfig = Static<typeof SupervisorConfigSchema>;
export type IdentifiedConfig = SupervisorConfig & { uuid: string };

export function configFile(dataDir: string): string {
  return path.join(dataDir, CONFIG_FILE);
}

export async function saveConfig(dataDir: string, config: SupervisorConfig): Promise<void> {
  await writeFileAtomic(configFile(dataDir), `${JSON.stringify(config, null, 2)}\n`);
}

/** Reads and validates the config; gives the device its uuid the first time. */
export async function loadConfig(dataDir: string): Promise<IdentifiedConfig> {
  const file = configFile(dataDir);
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read device config ${file}: ${messageOf(err)}`, { cause: err });
  }
  const config = parse(SupervisorConfigSchema, value, `device config ${file}`);
  if (config.uuid !== undefined) return { ...config, uuid: config.uuid };
  const identified = { ...config, uuid: randomUUID() };
  await saveConfig(dataDir, identified);
  return identified;
}

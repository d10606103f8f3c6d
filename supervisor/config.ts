// The device's own settings: DATA_DIR/config.json. Written by whoever provisions the device (image builder, CLI)
// and completed by the supervisor itself (uuid on first start, its token and apiSigningKey once the API admits it).
// The device's private key is not here but in DATA_DIR/device-key.pem (device/identity.ts).
import { randomUUID, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { decodePublicKey } from '../protocol/signature.js';
import { parse, ValidationError } from '../protocol/validate.js';
import { messageOf } from '../lib/errors.js';
import { parseInsecureRegistries } from '../lib/insecure-registries.js';
import { writeFileAtomic } from './device/atomic-file.js';

export const CONFIG_FILE = 'config.json';

export const SupervisorConfigSchema = Type.Object({
  /** Base URL of registry-api, e.g. https://skiff.example.com */
  apiUrl: Type.String({ minLength: 1 }),
  /** The fleet to join. Optional for a device whose key an operator pre-authorized. */
  fleet: Type.Optional(Type.String({ minLength: 1 })),
  /** Admits the device at once; without it the device waits as pending until an operator accepts it. */
  provisioningKey: Type.Optional(Type.String({ minLength: 16 })),
  deviceType: Type.String({ minLength: 1 }),
  /**
   * The OCI platform the device runs images of (linux/arm64, linux/arm/v7, ...); absent: its engine's machine.
   * Set for a device whose engine runs another architecture through binfmt emulation (supervisor/device/platform.ts).
   */
  platform: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  /** Chosen by the device once and kept, so a repeated registration is the same device. */
  uuid: Type.Optional(Type.String({ minLength: 8, maxLength: 64, pattern: '^[a-zA-Z0-9-]+$' })),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /** DOCKER_HOST-style address of the engine to manage; the environment's DOCKER_HOST when absent. */
  dockerHost: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * The bearer key of a device registered before device keys: sent once, with the first signed auth request, to
   * prove it is the same device; removed after.
   */
  deviceKey: Type.Optional(Type.String({ minLength: 1 })),
  /** The last token the API gave; used until it expires or the API refuses it, also while the API is away. */
  deviceToken: Type.Optional(Type.String({ minLength: 1 })),
  deviceTokenExpiresAt: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * The API's Ed25519 public key (base64 SPKI DER) every target state must be signed with. Learnt at registration,
   * or written here beforehand to pin it (registration then fails if the API presents another). A device that has
   * a deviceKey but none of this was provisioned before targets were signed: it refuses every target and says so.
   */
  apiSigningKey: Type.Optional(Type.String({ minLength: 1 })),
  /** The device-local API (local-api/): loopback only unless a technician's network needs it. */
  localApiHost: Type.Optional(Type.String({ minLength: 1 })),
  localApiPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  /** What POST /v1/reboot of the local API runs (argv, no shell); `reboot` when absent. */
  rebootCommand: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
});
export type SupervisorConfig = Static<typeof SupervisorConfigSchema>;
export type IdentifiedConfig = SupervisorConfig & { uuid: string };

/** The API's target signing key as a key object; null when the config has none (checked by loadConfig). */
export function apiSigningKeyOf(config: SupervisorConfig): KeyObject | null {
  return config.apiSigningKey === undefined ? null : decodePublicKey(config.apiSigningKey, 'apiSigningKey');
}

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
  if (config.apiSigningKey !== undefined) {
    try {
      decodePublicKey(config.apiSigningKey, 'apiSigningKey');
    } catch (err) {
      throw new ValidationError(`device config ${file}`, [{ path: '/apiSigningKey', message: messageOf(err) }]);
    }
  }
  if (config.uuid !== undefined) return { ...config, uuid: config.uuid };
  const identified = { ...config, uuid: randomUUID() };
  await saveConfig(dataDir, identified);
  return identified;
}

/** The environment variable listing the registries the device speaks plain HTTP to besides loopback ones. */
export const INSECURE_REGISTRIES_ENV = 'SKIFF_INSECURE_REGISTRIES';

/**
 * SKIFF_INSECURE_REGISTRIES (host or host:port, comma-separated, as image references name them): registries on a
 * LAN without TLS. An operator's setting for this device's network, not the fleet's, so it comes from the
 * environment and never enters config.json. Read at start; throws naming the first bad entry.
 */
export function insecureRegistriesOf(env: NodeJS.ProcessEnv): string[] {
  return parseInsecureRegistries(env[INSECURE_REGISTRIES_ENV], INSECURE_REGISTRIES_ENV);
}

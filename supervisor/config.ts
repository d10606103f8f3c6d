// The device's own settings: DATA_DIR/config.json. Written by whoever provisions the device (image builder, CLI)
// and completed by the supervisor itself (uuid on first start, its token once the API admits it). The API's signing
// key is pinned here by the provisioner, never filled in from the API.
// The device's private key is not here but in DATA_DIR/device-key.pem (device/identity.ts).
import { randomUUID, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { MAX_RELEASE_KEYS, trustedKeysOf as releaseKeyRingOf } from '../protocol/release-signature.js';
import { decodePublicKey } from '../protocol/signature.js';
import { parse, ValidationError } from '../protocol/validate.js';
import { messageOf } from '../lib/errors.js';
import { parseInsecureRegistries } from '../lib/insecure-registries.js';
import { writeFileAtomic } from './device/atomic-file.js';
import type { TrustedKeys } from './target/gate.js';

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
   * The API's Ed25519 public key (base64 SPKI DER) every target state must be signed with, pinned at provisioning
   * (read from GET /v1/info, field signingKey, over a channel the provisioner trusts). Never learnt from the API: a
   * device without it does not go online (it keeps running its persisted target) and says how to get it. Replaced
   * by the device itself only when a target signed with this key announces the API's next key.
   */
  apiSigningKey: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * The API's next signing key, announced inside a target signed with apiSigningKey while the API rotates its key:
   * trusted besides apiSigningKey until the first target signed with it, which makes it apiSigningKey.
   */
  apiNextSigningKey: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * Allows a plain http:// apiUrl that is not loopback (a lab network). Without it such an address is refused:
   * tokens and targets would cross the network readable and replaceable.
   */
  allowInsecureHttp: Type.Optional(Type.Boolean()),
  /**
   * Release keys (base64 SPKI DER, as `skiff release-key show` prints them) pinned at provisioning: with any, every
   * release must be signed by one of them or by a key of a key set they (transitively) signed, whatever the API
   * says (supervisor/target/release-signature.ts). Absent: the device takes unsigned releases.
   */
  releaseKeys: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: MAX_RELEASE_KEYS })),
  /** The device-local API (local-api/): loopback only unless a technician's network needs it. */
  localApiHost: Type.Optional(Type.String({ minLength: 1 })),
  localApiPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  /**
   * Where the reverse SSH tunnel's files go (online/tunnel.ts): the tunnel key the supervisor makes, and what the
   * target's `tunnel` says (the jump host's address and host key, the device's port, the SSH CA its sshd trusts).
   * The tunnel service mounts it; absent: DATA_DIR/tunnel.
   */
  tunnelDir: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  /** What POST /v1/reboot of the local API runs (argv, no shell); `reboot` when absent. */
  rebootCommand: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
});
export type SupervisorConfig = Static<typeof SupervisorConfigSchema>;
export type IdentifiedConfig = SupervisorConfig & { uuid: string };

/** The API's target signing key as a key object; null when the config has none (checked by loadConfig). */
export function apiSigningKeyOf(config: SupervisorConfig): KeyObject | null {
  return config.apiSigningKey === undefined ? null : decodePublicKey(config.apiSigningKey, 'apiSigningKey');
}

/** The keys targets may be signed with (the pinned one, and an announced next one); null when none is pinned. */
export function trustedKeysOf(config: SupervisorConfig): TrustedKeys | null {
  const current = apiSigningKeyOf(config);
  if (current === null) return null;
  const next =
    config.apiNextSigningKey === undefined ? null : decodePublicKey(config.apiNextSigningKey, 'apiNextSigningKey');
  return { current, next };
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
  for (const field of ['apiSigningKey', 'apiNextSigningKey'] as const) {
    const key = config[field];
    if (key === undefined) continue;
    try {
      decodePublicKey(key, field);
    } catch (err) {
      throw new ValidationError(`device config ${file}`, [{ path: `/${field}`, message: messageOf(err) }]);
    }
  }
  if (config.releaseKeys !== undefined) {
    try {
      releaseKeyRingOf(config.releaseKeys, 'releaseKeys');
    } catch (err) {
      throw new ValidationError(`device config ${file}`, [{ path: '/releaseKeys', message: messageOf(err) }]);
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

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]', '::1']);

/** Whether `hostname` (as URL gives it) is this machine: localhost, 127.0.0.0/8, ::1. */
function isLoopback(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * Why this config cannot go online (null when it can): no pinned API key, or plain http to another machine without
 * allowInsecureHttp. The device then keeps running what it has and logs this.
 */
export function onlineRefusal(config: SupervisorConfig, file: string): string | null {
  if (config.apiSigningKey === undefined) {
    return (
      `${file} pins no apiSigningKey, so this device cannot tell the API's targets from anyone else's and does not ` +
      `go online. Pin the API's key at provisioning: read it from ${config.apiUrl.replace(/\/+$/, '')}/v1/info ` +
      '(field signingKey) over a channel you trust, and write it into config.json as apiSigningKey'
    );
  }
  let url: URL;
  try {
    url = new URL(config.apiUrl);
  } catch {
    return `${file}: apiUrl '${config.apiUrl.slice(0, 200)}' is not a URL`;
  }
  if (url.protocol === 'https:') return null;
  if (url.protocol !== 'http:') return `${file}: apiUrl must be https:// (or http:// to loopback), not ${url.protocol}`;
  if (isLoopback(url.hostname) || config.allowInsecureHttp === true) return null;
  return (
    `${file}: apiUrl ${url.origin} is plain http to another machine: tokens and targets would cross the network ` +
    'readable and replaceable. Use https://, or set "allowInsecureHttp": true in config.json for a lab network'
  );
}

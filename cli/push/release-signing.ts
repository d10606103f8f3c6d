// The developer's release key: an Ed25519 key pair kept on this machine only (PKCS#8 PEM, mode 0600, beside the CLI's
// config by default), and the signing step of `skiff push`. The content signed is computed here exactly as the API
// and the device compute it (protocol/release-signature.ts), from the same normaliser the API runs on the push.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { normalizeCompose } from '../../protocol/compose/normalize.js';
import type { LocalSource } from '../../protocol/compose/files.js';
import { keyIdOf, signRelease, type ReleaseSignature } from '../../protocol/release-signature.js';
import { encodePublicKey } from '../../protocol/signature.js';
import { configPath } from '../config.js';

/** Where `skiff release-key create` puts the key and `skiff push` looks for it: beside the CLI's config file. */
export function defaultReleaseKeyFile(env: NodeJS.ProcessEnv): string {
  return path.join(path.dirname(configPath(env)), 'release-key.pem');
}

export interface ReleaseKeyInfo {
  file: string;
  keyId: string;
  /** The wire form an admin registers with the fleet (protocol/signature.ts encodePublicKey). */
  publicKey: string;
}

function infoOf(file: string, key: KeyObject): ReleaseKeyInfo {
  const pub = createPublicKey(key);
  return { file, keyId: keyIdOf(pub), publicKey: encodePublicKey(pub) };
}

/** Makes a new key pair in `file`; refuses to overwrite one (a lost key cannot sign for its fleets any more). */
export async function createReleaseKey(file: string): Promise<ReleaseKeyInfo> {
  const { privateKey } = generateKeyPairSync('ed25519');
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // wx: fails if the file exists, so an existing key is never replaced.
    handle = await open(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new Error(`a release key already exists at ${file}; remove it first or choose another file with --file`);
    throw new Error(`cannot create the release key file ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    await handle.writeFile(privateKey.export({ format: 'pem', type: 'pkcs8' }));
  } finally {
    await handle.close();
  }
  // The mode given to open is masked by the umask; chmod makes 0600 exact.
  await chmod(file, 0o600);
  return infoOf(file, privateKey);
}

/** The private key in `file`; null when the file does not exist. */
export async function readReleaseKey(file: string): Promise<{ key: KeyObject; info: ReleaseKeyInfo } | null> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read the release key ${file}: ${(err as Error).message}`, { cause: err });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`the release key ${file} is not a PEM private key: ${(err as Error).message}`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new Error(`the release key ${file} is a ${key.asymmetricKeyType ?? key.type} key; release keys are Ed25519`);
  return { key, info: infoOf(file, key) };
}

/**
 * The key `skiff push` signs with: `--release-key FILE` (which must exist), else the default file if there is one,
 * else null (the push goes unsigned, which a fleet with release keys refuses).
 */
export async function releaseKeyForPush(
  chosen: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<{ key: KeyObject; info: ReleaseKeyInfo } | null> {
  const file = chosen ?? defaultReleaseKeyFile(env);
  const found = await readReleaseKey(file);
  if (found === null && chosen !== undefined) throw new Error(`--release-key: there is no key file ${file}`);
  return found;
}

/** The signature of the release the API will make of this push: same normaliser, same inputs. */
export function signPush(
  key: KeyObject,
  push: {
    fleet: string;
    version?: string;
    compose: string;
    images: Record<string, string>;
    files?: Record<string, LocalSource>;
    profiles?: readonly string[];
  },
): ReleaseSignature {
  // The files' digests are in the services (their mounts), so the signature covers every file as it covers images.
  const files = push.files;
  const { services, volumes, networks, networkDefinitions, volumeDefinitions } = normalizeCompose(
    push.compose,
    push.images,
    {
      ...(files === undefined ? {} : { files: (p: string) => (Object.hasOwn(files, p) ? files[p] : undefined) }),
      ...(push.profiles === undefined ? {} : { profiles: push.profiles }),
    },
  );
  return signRelease(key, {
    fleet: push.fleet,
    ...(push.version === undefined ? {} : { version: push.version }),
    services,
    volumes,
    networks,
    ...(networkDefinitions === undefined ? {} : { networkDefinitions }),
    ...(volumeDefinitions === undefined ? {} : { volumeDefinitions }),
  });
}

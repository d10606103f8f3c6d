// The Ed25519 key pair target states are signed with. Generated at first start into DATA_DIR/signing-key.pem
// (PKCS#8 PEM, mode 0600) and reused on every later start, or read from SKIFF_SIGNING_KEY_FILE. Devices pin the
// public half at provisioning, so the key is never simply replaced; it is rotated: rotate() makes the next key
// (FILE.next, 0600), which every target signed with the current key then announces (issued.nextSigningKey); a
// device that takes such a target trusts the next key too. complete() moves the next key into FILE (the old one is
// kept as FILE.previous) and signs with it from then on; devices that polled during the rotation follow, one that
// never did must be provisioned with the new key again. Several instances: each reads the files at start, so run
// the rotation on one and restart the others after rotate and after complete (they must share the key files).
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TargetState } from '../../protocol/target-state.js';
import { encodePublicKey, signTarget } from '../../protocol/signature.js';
import { messageOf } from '../../lib/errors.js';

export const SIGNING_KEY_FILE = 'signing-key.pem';

export interface SigningKey {
  /** The public key in its wire form (base64 of the SPKI DER), as devices and /v1/info get it. */
  readonly publicKey: string;
  /** The next key's public half while a rotation runs (announced in targets); null otherwise. */
  readonly nextPublicKey: string | null;
  /** The Skiff-Signature header value for a target. */
  sign(target: TargetState): string;
  /** Starts a rotation (makes the next key), or leaves the running one; returns the next public key. */
  rotate(): string;
  /** Signs with the next key from now on; returns it. Throws when no rotation runs. */
  complete(): string;
  /** Where it came from, for the start-up log. */
  readonly source: 'environment' | 'file' | 'generated';
  readonly file: string;
}

const NEXT_SUFFIX = '.next';
const PREVIOUS_SUFFIX = '.previous';

/** Writes a new Ed25519 private key to `file` (0600), failing if it exists. */
function writeNewKey(file: string): KeyObject {
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  return privateKey;
}

class FileSigningKey implements SigningKey {
  private current: KeyObject;
  private currentPublic: string;
  private next: { key: KeyObject; publicKey: string } | null;

  constructor(
    privateKey: KeyObject,
    readonly source: SigningKey['source'],
    readonly file: string,
  ) {
    this.current = privateKey;
    this.currentPublic = encodePublicKey(createPublicKey(privateKey));
    const nextFile = file + NEXT_SUFFIX;
    this.next = existsSync(nextFile) ? FileSigningKey.withPublic(readPrivateKey(nextFile)) : null;
  }

  private static withPublic(key: KeyObject): { key: KeyObject; publicKey: string } {
    return { key, publicKey: encodePublicKey(createPublicKey(key)) };
  }

  get publicKey(): string {
    return this.currentPublic;
  }

  get nextPublicKey(): string | null {
    return this.next?.publicKey ?? null;
  }

  sign(target: TargetState): string {
    return signTarget(this.current, target);
  }

  rotate(): string {
    if (this.next !== null) return this.next.publicKey;
    const nextFile = this.file + NEXT_SUFFIX;
    let key: KeyObject;
    try {
      key = writeNewKey(nextFile);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new Error(`cannot create the next target signing key ${nextFile}: ${messageOf(err)}`, { cause: err });
      key = readPrivateKey(nextFile);
    }
    this.next = FileSigningKey.withPublic(key);
    return this.next.publicKey;
  }

  complete(): string {
    const next = this.next;
    if (next === null) throw new Error('no signing key rotation runs: start one with POST /v1/signing-key/rotate');
    try {
      renameSync(this.file, this.file + PREVIOUS_SUFFIX);
      renameSync(this.file + NEXT_SUFFIX, this.file);
    } catch (err) {
      throw new Error(`cannot move the next signing key into ${this.file}: ${messageOf(err)}`, { cause: err });
    }
    this.current = next.key;
    this.currentPublic = next.publicKey;
    this.next = null;
    return this.currentPublic;
  }
}

function signingKeyFrom(privateKey: KeyObject, source: SigningKey['source'], file: string): SigningKey {
  return new FileSigningKey(privateKey, source, file);
}

function readPrivateKey(file: string): KeyObject {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the target signing key ${file}: ${messageOf(err)}`, { cause: err });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`the target signing key ${file} is not a PEM private key: ${messageOf(err)}`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(
      `the target signing key ${file} is a ${key.asymmetricKeyType ?? 'unknown'} key; it must be Ed25519 (openssl genpkey -algorithm ed25519)`,
    );
  }
  return key;
}

/** The key from `configuredFile` (SKIFF_SIGNING_KEY_FILE), else DATA_DIR's own, generated if it does not exist. */
export function signingKeyOf(dataDir: string, configuredFile: string | null): SigningKey {
  if (configuredFile !== null) return signingKeyFrom(readPrivateKey(configuredFile), 'environment', configuredFile);
  const file = path.join(dataDir, SIGNING_KEY_FILE);
  try {
    // 'wx': if two starts race, exactly one creates the file and the other reads it.
    return signingKeyFrom(writeNewKey(file), 'generated', file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new Error(`cannot create the target signing key ${file}: ${messageOf(err)}`, { cause: err });
    }
  }
  return signingKeyFrom(readPrivateKey(file), 'file', file);
}

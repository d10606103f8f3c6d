// The Ed25519 key pair target states are signed with. Generated at first start into DATA_DIR/signing-key.pem
// (PKCS#8 PEM, mode 0600) and reused on every later start, or read from SKIFF_SIGNING_KEY_FILE. Devices keep the
// public half from their registration, so replacing this key orphans every device provisioned with the old one.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TargetState } from '../../protocol/target-state.js';
import { encodePublicKey, signTarget } from '../../protocol/signature.js';
import { messageOf } from '../../lib/errors.js';

export const SIGNING_KEY_FILE = 'signing-key.pem';

export interface SigningKey {
  /** The public key in its wire form (base64 of the SPKI DER), as devices and /v1/info get it. */
  publicKey: string;
  /** The Skiff-Signature header value for a target. */
  sign(target: TargetState): string;
  /** Where it came from, for the start-up log. */
  source: 'environment' | 'file' | 'generated';
  file: string;
}

function signingKeyFrom(privateKey: KeyObject, source: SigningKey['source'], file: string): SigningKey {
  return {
    publicKey: encodePublicKey(createPublicKey(privateKey)),
    sign: (target) => signTarget(privateKey, target),
    source,
    file,
  };
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
  const { privateKey } = generateKeyPairSync('ed25519');
  try {
    // 'wx': if two starts race, exactly one creates the file and the other reads it.
    writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
    return signingKeyFrom(privateKey, 'generated', file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new Error(`cannot create the target signing key ${file}: ${messageOf(err)}`, { cause: err });
    }
  }
  return signingKeyFrom(readPrivateKey(file), 'file', file);
}

// The device's own Ed25519 key pair: made on first start, kept in DATA_DIR/device-key.pem (0600, the only copy),
// never sent anywhere. Its public half is the device's identity to the API (protocol/device-auth.ts).
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { encodePublicKey } from '../../protocol/signature.js';
import { messageOf } from '../../lib/errors.js';
import { writeFileAtomic } from './atomic-file.js';

export const IDENTITY_FILE = 'device-key.pem';

export interface DeviceIdentity {
  privateKey: KeyObject;
  /** Wire form: base64 SPKI DER. */
  publicKey: string;
}

function identityOf(privateKey: KeyObject, file: string): DeviceIdentity {
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new Error(`${file} holds a ${privateKey.asymmetricKeyType ?? '?'} key, not Ed25519`);
  return { privateKey, publicKey: encodePublicKey(createPublicKey(privateKey)) };
}

/** The key pair of the device with this data dir, made (and saved) the first time. */
export async function loadOrCreateIdentity(dataDir: string): Promise<DeviceIdentity> {
  const file = path.join(dataDir, IDENTITY_FILE);
  let pem: string | null = null;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new Error(`cannot read the device key ${file}: ${messageOf(err)}`, { cause: err });
  }
  if (pem !== null) {
    try {
      return identityOf(createPrivateKey(pem), file);
    } catch (err) {
      // Never replaced silently: a new key would be a new identity, which the API refuses for this uuid.
      throw new Error(
        `the device key ${file} is unreadable (${messageOf(err)}); restore it, or give the device a new uuid and key`,
        { cause: err },
      );
    }
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  await writeFileAtomic(file, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), 0o600);
  return identityOf(privateKey, file);
}

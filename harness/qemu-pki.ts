// A throwaway bundle-signing PKI for the qemu device, made by os-image/signing-pki.sh (the same script
// scripts/rauc-env.sh uses): a CA (baked into the guest's keyring) and a signer certificate it issued.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './env.js';

const run = promisify(execFile);

export interface SigningPki {
  /** CA certificate: the device's RAUC keyring. */
  ca: string;
  cert: string;
  key: string;
}

/** Makes the PKI in `dir`, or returns the one already there. */
export async function signingPki(dir: string): Promise<SigningPki> {
  await run('bash', [path.join(repoRoot, 'os-image', 'signing-pki.sh'), dir, 'qemu device'], { timeout: 60_000 });
  return {
    ca: path.join(dir, 'ca.cert.pem'),
    cert: path.join(dir, 'signer.cert.pem'),
    key: path.join(dir, 'signer.key.pem'),
  };
}

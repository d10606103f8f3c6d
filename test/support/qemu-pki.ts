// A throwaway bundle-signing PKI for the qemu device: a CA (baked into the guest's keyring) and a signer
// certificate it issued, made with openssl like a build machine's release key would be.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SigningPki {
  /** CA certificate: the device's RAUC keyring. */
  ca: string;
  cert: string;
  key: string;
}

/** Makes the PKI in `dir`, or returns the one already there. */
export async function signingPki(dir: string): Promise<SigningPki> {
  const pki = { ca: path.join(dir, 'ca.cert.pem'), cert: path.join(dir, 'signer.cert.pem'), key: path.join(dir, 'signer.key.pem') };
  if (existsSync(pki.cert)) return pki;
  await mkdir(dir, { recursive: true });
  const caKey = path.join(dir, 'ca.key.pem');
  const csr = path.join(dir, 'signer.csr');
  const ext = path.join(dir, 'signer.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', pki.ca, '-days', '3650',
    '-subj', '/O=Skiff test/CN=qemu device CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await run('openssl', ['req', ...ec, '-keyout', pki.key, '-out', csr, '-subj', '/O=Skiff test/CN=qemu bundle signer']);
  await writeFile(ext, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n');
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', pki.ca, '-CAkey', caKey, '-CAcreateserial',
    '-out', pki.cert, '-days', '3650', '-extfile', ext]);
  return pki;
}

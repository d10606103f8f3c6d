// The API's SSH certificate authority: an Ed25519 key made on first start (mode 0600, like the target signing key)
// that signs operators' short-lived user certificates with ssh-keygen -s. Devices' sshd and the jump host trust its
// public half (TrustedUserCAKeys); what a certificate may do there is its principal (one device) and its validity.
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { newOpenSshKeyPair, publicKeyOf } from '../../lib/openssh-key.js';

const run = promisify(execFile);
const SSH_KEYGEN = 'ssh-keygen';
const TOOL_TIMEOUT_MS = 15_000;

export interface CertificateRequest {
  /** The operator's public key, "ssh-ed25519 AAAA...". */
  publicKey: string;
  /** The certificate's key id: the session it opens, which the jump host's principals command looks up. */
  keyId: string;
  principal: string;
  validAfter: Date;
  validBefore: Date;
  /** A login wants a terminal; a port forward does not. */
  pty: boolean;
}

/** ssh-keygen's YYYYMMDDHHMMSS, in UTC: -V takes it as such with the Z suffix. */
function sshTime(at: Date): string {
  return `${at.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

function stderrOf(err: unknown): string {
  const text = (err as { stderr?: unknown }).stderr;
  return typeof text === 'string' && text.trim() !== ''
    ? text.trim()
    : err instanceof Error
      ? err.message
      : String(err);
}

export class SshCa {
  private constructor(
    readonly keyFile: string,
    /** "ssh-ed25519 AAAA...": what TrustedUserCAKeys lists. */
    readonly publicKey: string,
    readonly source: 'file' | 'generated',
  ) {}

  /** The CA at `keyFile`, made there first when missing. */
  static async open(keyFile: string): Promise<SshCa> {
    let source: 'file' | 'generated' = 'file';
    if (!existsSync(keyFile)) {
      const pair = newOpenSshKeyPair('skiff ssh ca');
      // wx: two instances starting at once over a shared data dir must not overwrite each other's key.
      try {
        writeFileSync(keyFile, pair.privateKey, { mode: 0o600, flag: 'wx' });
        source = 'generated';
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    let derived: string;
    try {
      derived = (await run(SSH_KEYGEN, ['-y', '-f', keyFile], { timeout: TOOL_TIMEOUT_MS })).stdout;
    } catch (err) {
      throw new Error(
        `cannot read the SSH CA key ${keyFile} with ${SSH_KEYGEN} -y (is openssh-client installed, is the file an unencrypted OpenSSH private key with mode 0600?): ${stderrOf(err)}`,
      );
    }
    const publicKey = publicKeyOf(derived);
    if (publicKey === null) throw new Error(`${SSH_KEYGEN} -y -f ${keyFile} printed no public key`);
    return new SshCa(keyFile, publicKey, source);
  }

  /** The certificate file's content (what ssh reads as KEY-cert.pub). */
  async sign(request: CertificateRequest): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'skiff-ssh-cert-'));
    try {
      const key = path.join(dir, 'user.pub');
      await writeFile(key, `${request.publicKey}\n`, { mode: 0o600 });
      const options = ['-O', 'clear', '-O', 'permit-port-forwarding', ...(request.pty ? ['-O', 'permit-pty'] : [])];
      try {
        await run(
          SSH_KEYGEN,
          [
            '-q',
            '-s',
            this.keyFile,
            '-I',
            request.keyId,
            '-n',
            request.principal,
            '-V',
            `${sshTime(request.validAfter)}:${sshTime(request.validBefore)}`,
            ...options,
            key,
          ],
          { timeout: TOOL_TIMEOUT_MS },
        );
      } catch (err) {
        throw new Error(`${SSH_KEYGEN} -s could not sign a certificate with ${this.keyFile}: ${stderrOf(err)}`);
      }
      return (await readFile(path.join(dir, 'user-cert.pub'), 'utf8')).trim();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

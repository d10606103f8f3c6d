// Ed25519 keys in OpenSSH's own formats, made with Node's crypto: the private key file ssh and ssh-keygen read
// ("openssh-key-v1", unencrypted) and the public key line ("ssh-ed25519 AAAA... comment"). Devices make their tunnel
// key with it and the CLI its ephemeral session key, so neither needs ssh-keygen to be installed.
import { generateKeyPairSync, randomBytes } from 'node:crypto';

const KEY_TYPE = 'ssh-ed25519';

function sshString(value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function uint32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return bytes;
}

export interface OpenSshKeyPair {
  /** The private key file's content (PEM-armoured openssh-key-v1, no passphrase). */
  privateKey: string;
  /** "ssh-ed25519 AAAA..." without comment: what the API stores and matches. */
  publicKey: string;
}

/** A new Ed25519 key pair; `comment` goes into the private key (ssh-keygen -l shows it). */
export function newOpenSshKeyPair(comment: string): OpenSshKeyPair {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  if (jwk.d === undefined || jwk.x === undefined) throw new Error('Node exported an Ed25519 key without its parts');
  const seed = Buffer.from(jwk.d, 'base64url');
  const pub = Buffer.from(jwk.x, 'base64url');
  const publicBlob = Buffer.concat([sshString(KEY_TYPE), sshString(pub)]);
  const check = randomBytes(4).readUInt32BE();
  let secret = Buffer.concat([
    uint32(check),
    uint32(check),
    sshString(KEY_TYPE),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(comment),
  ]);
  // Padded with 1, 2, 3... to the cipher's block size, 8 for "none".
  const padding = (8 - (secret.length % 8)) % 8;
  secret = Buffer.concat([secret, Buffer.from(Array.from({ length: padding }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    uint32(1),
    sshString(publicBlob),
    sshString(secret),
  ]);
  const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `${KEY_TYPE} ${publicBlob.toString('base64')}`,
  };
}

/** "TYPE BASE64" of an authorized_keys or .pub line, without options or comment; null when it is none. */
export function publicKeyOf(line: string): string | null {
  const match = /(?:^|\s)((?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)) [A-Za-z0-9+/]+={0,3})(?:\s|$)/.exec(
    line.trim(),
  );
  return match?.[1] ?? null;
}

// Compact JWS (JWT) signing with ES256, as the distribution registry's token auth verifies it. Hand-written on
// node:crypto rather than a library: the project has no JOSE library installed, and signing one fixed algorithm is
// a header, a payload and one crypto.sign call; verification is the registry's job, not ours.
import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto';

const base64url = (value: Buffer | string): string => Buffer.from(value).toString('base64url');

/** RFC 4648 base32 without padding, the alphabet libtrust key ids use. */
function base32(bytes: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/**
 * The key id distribution derives from each certificate of its `rootcertbundle` (docker/libtrust KeyID: the first
 * 240 bits of the SHA-256 of the SPKI DER, base32, in groups of four). A token whose `kid` matches is checked
 * against that certificate's key, so the token carries no certificate chain.
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const digest = createHash('sha256')
    .update(publicKey.export({ format: 'der', type: 'spki' }))
    .digest();
  return base32(digest.subarray(0, 30)).match(/.{4}/g)!.join(':');
}

export interface JwtSigner {
  readonly keyId: string;
  /** The signed token for `claims`: header.payload.signature, each base64url. */
  sign(claims: object): string;
}

/** A signer for a P-256 private key; throws, naming `where`, for any other key. */
export function es256Signer(privateKey: KeyObject, where: string): JwtSigner {
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    const curve = privateKey.asymmetricKeyDetails?.namedCurve;
    throw new Error(
      `${where} is a ${privateKey.asymmetricKeyType ?? 'unknown'}${curve ? ` ${curve}` : ''} key; ES256 needs an EC P-256 (prime256v1) key`,
    );
  }
  const keyId = libtrustKeyId(createPublicKey(privateKey));
  const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', kid: keyId }));
  return {
    keyId,
    sign(claims) {
      const signingInput = `${header}.${base64url(JSON.stringify(claims))}`;
      // JWS wants r||s (IEEE P1363), not the DER sequence crypto.sign gives by default.
      const signature = sign('sha256', Buffer.from(signingInput), { key: privateKey, dsaEncoding: 'ieee-p1363' });
      return `${signingInput}.${base64url(signature)}`;
    },
  };
}

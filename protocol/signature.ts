// Signed target states. registry-api holds an Ed25519 key pair; the public half is pinned in each device's
// provisioning config (apiSigningKey, read by the provisioner from GET /v1/info over a channel they trust), never
// learnt from the API a device talks to. Every 200 answer of GET /v1/device/{uuid}/target carries
//
//   Skiff-Signature: ed25519=<base64 of the 64-byte Ed25519 signature>
//
// over the UTF-8 bytes of canonicalJson(body) (protocol/canonical-json.ts); the body itself stays the plain
// TargetState, and the ETag is the sha256 of the same canonical bytes. A device checks the signature before it
// looks at anything else in the target, and refuses a target with a missing, malformed or wrong signature. Keys
// travel as base64 of their DER encoding: SPKI for the public key (44 bytes, so 60 characters; from a PEM private
// key: `openssl pkey -in KEY.pem -pubout -outform DER | base64`).
//
// Freshness (TUF/Uptane's rollback and freeze protections). The signed content names the device (device.uuid) and
// carries `issued: { version, issuedAt, expiresAt }`. The version only goes up per device: the API issues a new one
// when the content changes or when more than half of the validity (SKIFF_TARGET_VALIDITY_SECONDS, default 7 days)
// has passed, and otherwise serves the same signed bytes, so the ETag stays and polls stay 304. A device refuses a
// target for another uuid, one without `issued`, one with a version below the highest it accepted (or equal with
// other content), and one past its expiresAt; it keeps running what it has and reports why.
// Clock rule: the device's now is max(its system clock, the issuedAt of the last target it verified), because a Pi
// has no real-time clock; 5 minutes of skew are allowed past expiresAt. A device whose clock runs far ahead sees
// targets as expired and keeps running until its clock is corrected (NTP); then it takes them again. The highest
// accepted version is the one of the persisted target (DATA_DIR/target.json); deleting that file while the
// supervisor is stopped (locally only) resets it. A device whose running target expired reports "target expired".
//
// Key rotation: while the API rotates its key (POST /v1/signing-key/rotate), every target signed with the current key
// announces the next one in issued.nextSigningKey; a device that took such a target trusts the next key too
// (apiNextSigningKey in its config). Once the API completes the rotation (POST /v1/signing-key/complete) it signs with
// the next key, and the first target a device takes signed with it makes it the only key the device trusts.
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import type { TargetState } from './target-state.js';

export const SIGNATURE_HEADER = 'Skiff-Signature';
const SCHEME = 'ed25519';
const SIGNATURE_BYTES = 64;

export class SignatureError extends Error {
  constructor(
    readonly what: string,
    readonly reason: string,
  ) {
    super(`${what}: signature invalid: ${reason}`);
    this.name = 'SignatureError';
  }
}

function requireEd25519(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519')
    throw new Error(`${what} is a ${key.asymmetricKeyType ?? key.type} key, not Ed25519`);
  return key;
}

/** The wire form of a public key: base64 of its SPKI DER. */
export function encodePublicKey(key: KeyObject): string {
  return requireEd25519(key, 'the public key').export({ format: 'der', type: 'spki' }).toString('base64');
}

/** The public key of its wire form; throws, naming `what`, unless it is a well-formed Ed25519 public key. */
export function decodePublicKey(text: string, what = 'the signing key'): KeyObject {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new Error(`${what} is not base64`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' });
  } catch (err) {
    throw new Error(`${what} is not a DER SPKI public key: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  return requireEd25519(key, what);
}

/** The Skiff-Signature header value for `target`. */
export function signTarget(privateKey: KeyObject, target: TargetState): string {
  requireEd25519(privateKey, 'the signing key');
  // Ed25519 hashes internally: the algorithm argument must be null.
  const signature = sign(null, Buffer.from(canonicalJson(target), 'utf8'), privateKey);
  return `${SCHEME}=${signature.toString('base64')}`;
}

/**
 * Checks that `signature` (a Skiff-Signature header value) was made by `publicKey` over `target`, which may be
 * anything parsed from JSON: this runs before any validation. Throws a SignatureError naming `what` otherwise.
 */
export function verifyTarget(
  publicKey: KeyObject,
  target: unknown,
  signature: string | null | undefined,
  what = 'target state',
): asserts signature is string {
  if (signature === null || signature === undefined || signature.trim() === '') {
    throw new SignatureError(what, `it is not signed (no ${SIGNATURE_HEADER})`);
  }
  const match = /^\s*([A-Za-z0-9-]+)=([A-Za-z0-9+/]+={0,2})\s*$/.exec(signature);
  if (match === null)
    throw new SignatureError(what, `'${signature.slice(0, 120)}' is not of the form ${SCHEME}=<base64>`);
  const [, scheme = '', encoded = ''] = match;
  if (scheme.toLowerCase() !== SCHEME) throw new SignatureError(what, `scheme '${scheme}' is not ${SCHEME}`);
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length !== SIGNATURE_BYTES)
    throw new SignatureError(what, `it is ${bytes.length} bytes, an Ed25519 signature is ${SIGNATURE_BYTES}`);
  if (!verify(null, Buffer.from(canonicalJson(target), 'utf8'), publicKey, bytes)) {
    throw new SignatureError(
      what,
      "it does not match the content and the API's signing key (altered, or signed by another key)",
    );
  }
}

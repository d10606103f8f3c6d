// How a device proves who it is. Each device holds an Ed25519 key pair it made itself on first start; its public
// key is its identity. It asks for a token with POST /v1/device/auth, the body signed by its private key:
//
//   Skiff-Device-Signature: ed25519=<base64 of the 64-byte signature over canonicalJson(body)>
//
// The API answers 200 with a short-lived bearer token once the device is accepted (a valid provisioning key admits
// it at once, a public key an operator pre-authorized is admitted on first contact), 202 while an operator has yet
// to decide, 403 once rejected or revoked, 409 when its uuid is known with another public key (never taken over),
// 401 for a bad signature or a timestamp not newer than the last one it used (no replay). The device then sends
// `Authorization: Bearer <token>` on its routes and asks again when told 401.
import { sign, verify, type KeyObject } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { canonicalJson } from './canonical-json.js';
import { decodePublicKey } from './signature.js';

export const DEVICE_SIGNATURE_HEADER = 'Skiff-Device-Signature';
/** On key rotation: the same body signed by the new key, proving the device holds it. */
export const NEW_KEY_SIGNATURE_HEADER = 'Skiff-New-Key-Signature';

const SCHEME = 'ed25519';
const SIGNATURE_BYTES = 64;

/**
 * The only form a new device's uuid may take: the canonical textual uuid in lower case (8-4-4-4-12 hex digits),
 * what the supervisor makes with randomUUID(). It is 36 characters, so it can never read as an 8-character short
 * id, and one spelling per uuid leaves no look-alike. The schema below stays wider only so that devices admitted
 * before this rule keep authenticating; admission and pre-authorization refuse any other form for new devices.
 */
export const DEVICE_UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const DEVICE_UUID_FORM =
  'a canonical uuid in lower case: 8-4-4-4-12 hexadecimal digits, e.g. 3f2b8c1e-9d4a-4e6f-8a7b-0c1d2e3f4a5b';

export function isDeviceUuid(uuid: string): boolean {
  return DEVICE_UUID_PATTERN.test(uuid);
}

/** Why `uuid` cannot name a new device (for a 400), or null when it can. */
export function deviceUuidProblem(uuid: string): string | null {
  return isDeviceUuid(uuid) ? null : `the device uuid '${uuid}' is not of the allowed form: ${DEVICE_UUID_FORM}`;
}

const Uuid = Type.String({ minLength: 8, maxLength: 64, pattern: '^[a-zA-Z0-9-]+$' });
/** base64 of an Ed25519 SPKI DER public key (protocol/signature.ts encodePublicKey). */
const PublicKey = Type.String({ minLength: 40, maxLength: 200, pattern: '^[A-Za-z0-9+/]+={0,2}$' });
/** ISO 8601 time the device signed at; each must be later than the previous one the API accepted. */
const Timestamp = Type.String({ format: 'date-time' });

export const DeviceAuthRequestSchema = Type.Object(
  {
    uuid: Uuid,
    publicKey: PublicKey,
    deviceType: Type.String({ minLength: 1, maxLength: 64 }),
    /**
     * The OCI platform the device runs images of (linux/arm64, linux/arm/v7, ...): registration refuses a device
     * whose fleet's device types need other platforms. Absent from supervisors that predate it: not checked then.
     */
    platform: Type.Optional(
      Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z0-9]+/[a-z0-9]+(/[a-z0-9]+)?$' }),
    ),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    /** With provisioningKey: admission at once. Without: the device waits for an operator (or a pre-authorization). */
    fleet: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    provisioningKey: Type.Optional(Type.String({ minLength: 16 })),
    timestamp: Timestamp,
  },
  { additionalProperties: false },
);
export type DeviceAuthRequest = Static<typeof DeviceAuthRequestSchema>;

export const DeviceAuthResponseSchema = Type.Object({
  token: Type.String(),
  expiresAt: Type.String(),
  /** The Ed25519 public key target states are signed with (base64 SPKI DER). */
  signingKey: Type.String(),
  uuid: Type.String(),
  name: Type.String(),
  fleet: Type.String(),
  shortId: Type.String(),
});
export type DeviceAuthResponse = Static<typeof DeviceAuthResponseSchema>;

/** The 202 answer: known, not admitted yet. */
export const DeviceAuthPendingSchema = Type.Object({
  status: Type.Literal('pending'),
  uuid: Type.String(),
  shortId: Type.String(),
  detail: Type.String(),
});
export type DeviceAuthPending = Static<typeof DeviceAuthPendingSchema>;

/** POST /v1/device/{uuid}/rotate-key: signed by the current key (DEVICE_SIGNATURE_HEADER) and the new one. */
export const RotateKeyRequestSchema = Type.Object(
  {
    newPublicKey: PublicKey,
    timestamp: Timestamp,
  },
  { additionalProperties: false },
);
export type RotateKeyRequest = Static<typeof RotateKeyRequestSchema>;

/** Where a device stands with the API; revoked devices are rejected ones with a revokedAt. */
export const DEVICE_AUTH_STATUSES = ['preauthorized', 'pending', 'accepted', 'rejected'] as const;
export const DeviceAuthStatusSchema = Type.Union(DEVICE_AUTH_STATUSES.map((s) => Type.Literal(s)));
export type DeviceAuthStatus = Static<typeof DeviceAuthStatusSchema>;

/** An operator admits a device by its public key before it ever calls: it is accepted on first contact. */
export const PreauthorizeRequestSchema = Type.Object(
  {
    fleet: Type.String({ minLength: 1, maxLength: 64 }),
    publicKey: PublicKey,
    uuid: Type.Optional(Uuid),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);
export type PreauthorizeRequest = Static<typeof PreauthorizeRequestSchema>;

/** The header value signing `body` (any JSON value) with `privateKey`. */
export function signDeviceRequest(privateKey: KeyObject, body: unknown): string {
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new Error(`the device key is ${privateKey.asymmetricKeyType ?? privateKey.type}, not Ed25519`);
  return `${SCHEME}=${sign(null, Buffer.from(canonicalJson(body), 'utf8'), privateKey).toString('base64')}`;
}

/**
 * Null if `header` is a signature of `body` by the public key `publicKey` (wire form), else why not, in words
 * for a 401 (the key itself was validated by the schema's pattern only, so a malformed one is a reason too).
 */
export function deviceSignatureProblem(publicKey: string, body: unknown, header: string | undefined): string | null {
  if (header === undefined || header.trim() === '') return `no ${DEVICE_SIGNATURE_HEADER} header`;
  const match = /^\s*ed25519=([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  if (match === null) return `the signature header is not of the form ${SCHEME}=<base64>`;
  const bytes = Buffer.from(match[1] ?? '', 'base64');
  if (bytes.length !== SIGNATURE_BYTES)
    return `the signature is ${bytes.length} bytes, an Ed25519 signature is ${SIGNATURE_BYTES}`;
  let key: KeyObject;
  try {
    key = decodePublicKey(publicKey, 'the public key');
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  return verify(null, Buffer.from(canonicalJson(body), 'utf8'), key, bytes)
    ? null
    : 'the signature does not match the body and the public key';
}

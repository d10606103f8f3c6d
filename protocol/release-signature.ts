// Developer-signed releases (Uptane's separation of roles). A developer signs what a device will run from a release
// with an Ed25519 key kept on their own machine; the API stores the signature and passes it in the target
// (release.signature), and a device that pins release keys refuses a release no trusted key signed. A compromised
// API can then still choose among signed releases (and sign targets naming them), but never craft or alter one.
//
// The signed bytes are canonicalJson (protocol/canonical-json.ts) of a ReleaseContent: the fleet's name, the version
// when the developer chose one at push time (absent otherwise: the API numbers it), and the normalised services
// (image digests included), volumes and networks exactly as the target carries them. The device rebuilds the same
// content from the target it received. Config vars are not part of it: they travel in the target's config.env and
// are the operators' business, not the release's.
//
// Which keys a fleet trusts is itself a signed document (KeySet): version n+1 must be signed by a key of version n,
// and the first by a key it names. A device pins its first keys in its provisioning config and learns changes only
// as a KeySet signed by a key it already trusts, so the API cannot slip in a key of its own.
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { canonicalJson } from './canonical-json.js';
import { decodePublicKey, encodePublicKey, SignatureError } from './signature.js';
import type { NetworkDefinition, ServiceSpec, TargetState, VolumeDefinition } from './target-state.js';

const SIGNATURE_BYTES = 64;
/** More keys than a team has developers would only make a device's check and the stored documents large. */
export const MAX_RELEASE_KEYS = 32;

/** Tells a release's signed bytes from a key set's, so one can never be passed off as the other. */
const RELEASE_TYPE = 'skiff.release.v1';
const KEY_SET_TYPE = 'skiff.release-keys.v1';

export const KeyIdSchema = Type.String({ pattern: '^[a-f0-9]{64}$' });

/** A signature by a release key: which key (sha256 hex of its SPKI DER) and the base64 Ed25519 signature. */
export const ReleaseSignatureSchema = Type.Object(
  {
    keyId: KeyIdSchema,
    value: Type.String({ minLength: 86, maxLength: 88, pattern: '^[A-Za-z0-9+/]+={0,2}$' }),
  },
  { additionalProperties: false },
);
export type ReleaseSignature = Static<typeof ReleaseSignatureSchema>;

/** What a release signature covers. */
export interface ReleaseContent {
  fleet: string;
  /** Only when the developer chose the version at push time. */
  version?: string;
  services: ServiceSpec[];
  volumes: string[];
  networks: string[];
  /** Options of the networks and volumes it declares (driver, ipam, internal...), when it sets any. */
  networkDefinitions?: Record<string, NetworkDefinition>;
  volumeDefinitions?: Record<string, VolumeDefinition>;
  // The digests of files a release ships besides images join here (e.g. `files: {path: sha256}`), under the same
  // signature, once releases carry files.
}

/** The bytes a release signature covers. */
export function releaseSigningBytes(content: ReleaseContent): Buffer {
  const { fleet, version, services, volumes, networks, networkDefinitions, volumeDefinitions } = content;
  // Absent definitions are left out (canonicalJson drops undefined), so releases without any sign as before.
  return Buffer.from(
    canonicalJson({
      type: RELEASE_TYPE,
      fleet,
      version,
      services,
      volumes,
      networks,
      networkDefinitions,
      volumeDefinitions,
    }),
    'utf8',
  );
}

/** sha256 hex of the key's SPKI DER: how signatures and key sets name a key. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(Buffer.from(encodePublicKey(publicKey), 'base64'))
    .digest('hex');
}

/** Keys by their id, ready to check signatures with. */
export type TrustedKeys = ReadonlyMap<string, KeyObject>;

/** The trusted keys of their wire forms (protocol/signature.ts encodePublicKey); throws naming `what` on a bad one. */
export function trustedKeysOf(publicKeys: readonly string[], what = 'release keys'): TrustedKeys {
  const keys = new Map<string, KeyObject>();
  publicKeys.forEach((text, i) => {
    const key = decodePublicKey(text, `${what}[${i}]`);
    keys.set(keyIdOf(key), key);
  });
  return keys;
}

function signBytes(privateKey: KeyObject, bytes: Buffer): ReleaseSignature {
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new Error(`the release key is a ${privateKey.asymmetricKeyType ?? privateKey.type} key, not Ed25519`);
  // Ed25519 hashes internally: the algorithm argument must be null.
  return { keyId: keyIdOf(createPublicKey(privateKey)), value: sign(null, bytes, privateKey).toString('base64') };
}

/** Throws a SignatureError naming `what` unless `signature` is a trusted key's over `bytes`. */
function verifyBytes(trusted: TrustedKeys, bytes: readonly Buffer[], signature: ReleaseSignature, what: string): void {
  const key = trusted.get(signature.keyId);
  if (key === undefined) {
    throw new SignatureError(
      what,
      `it is signed by release key ${signature.keyId.slice(0, 16)}…, which is not among the ${trusted.size} trusted release key(s)`,
    );
  }
  const value = Buffer.from(signature.value, 'base64');
  if (value.length !== SIGNATURE_BYTES)
    throw new SignatureError(what, `it is ${value.length} bytes, an Ed25519 signature is ${SIGNATURE_BYTES}`);
  if (!bytes.some((b) => verify(null, b, key, value))) {
    throw new SignatureError(
      what,
      `it does not match the content signed by release key ${signature.keyId.slice(0, 16)}… (altered after signing)`,
    );
  }
}

export function signRelease(privateKey: KeyObject, content: ReleaseContent): ReleaseSignature {
  return signBytes(privateKey, releaseSigningBytes(content));
}

/** Throws a SignatureError naming `what` unless a trusted key signed `content`. */
export function verifyRelease(
  trusted: TrustedKeys,
  content: ReleaseContent,
  signature: ReleaseSignature,
  what = 'release',
): void {
  verifyBytes(trusted, [releaseSigningBytes(content)], signature, what);
}

/**
 * Throws a SignatureError naming `what` unless a trusted key signed the release the target names. The version is
 * covered when the developer chose it: the target's content is checked with its version, and else without.
 */
export function verifyTargetRelease(trusted: TrustedKeys, target: TargetState, what = 'release'): void {
  const { release } = target;
  if (release === null) {
    // The API sends no release as no services at all; anything else would be a release that nobody signed.
    if (target.services.length + target.volumes.length + target.networks.length === 0) return;
    throw new SignatureError(what, 'it names no release yet carries services, volumes or networks');
  }
  if (release.signature === undefined) throw new SignatureError(what, 'it is not signed by a release key');
  const content: ReleaseContent = {
    fleet: target.fleet.name,
    services: target.services,
    volumes: target.volumes,
    networks: target.networks,
    ...(target.networkDefinitions === undefined ? {} : { networkDefinitions: target.networkDefinitions }),
    ...(target.volumeDefinitions === undefined ? {} : { volumeDefinitions: target.volumeDefinitions }),
  };
  verifyBytes(
    trusted,
    [releaseSigningBytes({ ...content, version: release.version }), releaseSigningBytes(content)],
    release.signature,
    what,
  );
}

/** The release keys a fleet trusts, as a document its keys sign. */
export const KeySetDocumentSchema = Type.Object(
  {
    type: Type.Literal(KEY_SET_TYPE),
    fleet: Type.String({ minLength: 1, maxLength: 64 }),
    /** 1 for a fleet's first set, then one more with every change. */
    version: Type.Integer({ minimum: 1 }),
    /** The public keys' wire form (protocol/signature.ts encodePublicKey). */
    keys: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { minItems: 1, maxItems: MAX_RELEASE_KEYS }),
  },
  { additionalProperties: false },
);
export type KeySetDocument = Static<typeof KeySetDocumentSchema>;

export const SignedKeySetSchema = Type.Object(
  { document: KeySetDocumentSchema, signature: ReleaseSignatureSchema },
  { additionalProperties: false },
);
export type SignedKeySet = Static<typeof SignedKeySetSchema>;

export function keySetDocument(fleet: string, version: number, keys: readonly string[]): KeySetDocument {
  return { type: KEY_SET_TYPE, fleet, version, keys: [...new Set(keys)].sort() };
}

export function signKeySet(privateKey: KeyObject, document: KeySetDocument): SignedKeySet {
  return { document, signature: signBytes(privateKey, Buffer.from(canonicalJson(document), 'utf8')) };
}

/**
 * The keys of `next` once it is shown to follow the set trusted now: same fleet, a higher version (so an older set
 * cannot be replayed), signed by a key trusted now. With nothing trusted yet (a fleet's first set), the signer must be
 * one of the keys the set names. Throws a SignatureError naming `what` otherwise.
 */
export function acceptKeySet(
  current: { fleet: string; version: number; trusted: TrustedKeys } | { fleet: string; version: 0; trusted: null },
  next: SignedKeySet,
  what = 'release key set',
): TrustedKeys {
  const { document } = next;
  if (document.fleet !== current.fleet)
    throw new SignatureError(what, `it is for fleet '${document.fleet}', not '${current.fleet}'`);
  if (document.version <= current.version) {
    throw new SignatureError(
      what,
      `its version ${document.version} is not above the version ${current.version} trusted now`,
    );
  }
  const keys = trustedKeysOf(document.keys, `${what}: keys`);
  verifyBytes(current.trusted ?? keys, [Buffer.from(canonicalJson(document), 'utf8')], next.signature, what);
  return keys;
}

/** GET and PUT /v1/fleets/{fleet}/release-keys answer: the fleet's set, and its keys spelled out for people. */
export const ReleaseKeysSchema = Type.Object({
  fleet: Type.String(),
  /** 0 while the fleet trusts no release key: it then takes unsigned releases. */
  version: Type.Integer({ minimum: 0 }),
  keys: Type.Array(Type.Object({ keyId: KeyIdSchema, publicKey: Type.String() })),
  /** The signed document itself, for a device or a person to check; null while there is none. */
  keySet: Type.Union([SignedKeySetSchema, Type.Null()]),
});
export type ReleaseKeys = Static<typeof ReleaseKeysSchema>;

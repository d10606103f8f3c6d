// The bodies and answers of the people's side of the HTTP contract between registry-api and its clients (cli): fleets,
// releases, devices. The routes themselves (method, path, access, which schema where) are declared in protocol/http/.
// Auth: devices send `Authorization: Bearer <device token>` (protocol/device-auth.ts says how they get one); people
// and scripts send `Authorization: Bearer <apiToken>`.
import { Type, type Static } from '@sinclair/typebox';
import { DEVICE_TYPES, MAX_FLEET_DEVICE_TYPES } from './device-types.js';
import { FleetSettingsSchema } from './fleet-config.js';
import { KeyIdSchema, ReleaseSignatureSchema } from './release-signature.js';
import { FleetReviewSchema, ReleaseReviewSchema } from './release-review.js';
import { LocalSourcesSchema } from './compose/files.js';
import { FleetDataUseSchema } from './state-report.js';

const Name = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9-]*$' });

/** The body of actions that need none: `{}` and nothing in it. */
export const EmptyBodySchema = Type.Object({}, { additionalProperties: false });

/** The API's target-signing key and the rotation running, if any (keys as base64 SPKI DER). */
export const SigningKeyStatusSchema = Type.Object({
  signingKey: Type.String(),
  /** The key a running rotation moves to, announced in every target signed with signingKey; null: none runs. */
  nextSigningKey: Type.Union([Type.String(), Type.Null()]),
});
export type SigningKeyStatus = Static<typeof SigningKeyStatusSchema>;

export const InfoSchema = Type.Object({
  name: Type.Literal('skiff'),
  version: Type.String(),
  /** host:port of the image registry releases are pushed to; null if none is configured. */
  registry: Type.Union([Type.String(), Type.Null()]),
  /**
   * The Ed25519 public key target states are signed with: base64 of its SPKI DER (protocol/signature.ts). Optional
   * so a newer CLI still talks to an API from before signing; this API always sends it.
   */
  signingKey: Type.Optional(Type.String()),
});
export type Info = Static<typeof InfoSchema>;

export const ReleasePolicySchema = Type.Union([
  Type.Object({ mode: Type.Literal('latest') }),
  Type.Object({ mode: Type.Literal('pinned'), releaseId: Type.String() }),
]);
export type ReleasePolicy = Static<typeof ReleasePolicySchema>;

/** A device type slug; the route refuses an unknown one with the list (a schema enum would print all of them). */
const DeviceTypeSlugSchema = Type.String({
  minLength: 1,
  maxLength: 64,
  description: `one of ${DEVICE_TYPES.map((t) => t.slug).join(', ')}`,
});

export const CreateFleetRequestSchema = Type.Object(
  {
    name: Name,
    /** One device type (protocol/device-types.ts); `deviceTypes` names several. One of the two is needed. */
    deviceType: Type.Optional(DeviceTypeSlugSchema),
    /** Every device type the fleet admits: a mixed fleet gets each release built for all their platforms. */
    deviceTypes: Type.Optional(
      Type.Array(DeviceTypeSlugSchema, { minItems: 1, maxItems: MAX_FLEET_DEVICE_TYPES, uniqueItems: true }),
    ),
    pollIntervalSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
  },
  { additionalProperties: false },
);
export type CreateFleetRequest = Static<typeof CreateFleetRequestSchema>;

export const FleetSchema = Type.Object({
  name: Type.String(),
  /** The first of deviceTypes (for a fleet from before device types were checked: what it was created with). */
  deviceType: Type.String(),
  /** The device types the fleet admits; optional so a newer CLI still reads an older API. */
  deviceTypes: Type.Optional(Type.Array(Type.String())),
  /** The OCI platforms those device types run (linux/arm64, ...): what each release must have an image for. */
  platforms: Type.Optional(Type.Array(Type.String())),
  /**
   * What devices are admitted with. Empty for callers whose role may not provision devices (viewer, developer):
   * the key admits any new device to the fleet (never a known uuid with another public key).
   */
  provisioningKey: Type.String(),
  releasePolicy: ReleasePolicySchema,
  pollIntervalSeconds: Type.Integer(),
  createdAt: Type.String(),
  /** The fleet's settings besides the poll interval (protocol/fleet-config.ts), defaults filled in. */
  settings: Type.Optional(FleetSettingsSchema),
  /** When its releases need an operator's approval, and the host paths they may bind (protocol/release-review.ts). */
  review: Type.Optional(FleetReviewSchema),
  /** Its devices' data use this month (GET of one fleet only). */
  dataUse: Type.Optional(FleetDataUseSchema),
  /** When it was archived (no new devices or releases; its devices keep running); null or absent: it is not. */
  archivedAt: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});
export type Fleet = Static<typeof FleetSchema>;

export const CreateReleaseRequestSchema = Type.Object(
  {
    /** The compose file as YAML text. Services with `build` need an entry in `images`. */
    compose: Type.String({ minLength: 1, maxLength: 1_000_000 }),
    /** Service name to image digest reference (REGISTRY/REPO@sha256:HEX). */
    images: Type.Record(Type.String(), Type.String({ pattern: '@sha256:[a-f0-9]{64}$' })),
    version: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    notes: Type.Optional(Type.String({ maxLength: 10_000 })),
    /**
     * The developer's signature of the release content (protocol/release-signature.ts). Required, by a key the fleet
     * trusts, once the fleet has release keys.
     */
    signature: Type.Optional(ReleaseSignatureSchema),
    /**
     * What is at each project path the compose file names (relative binds, configs, secrets), as `skiff push`
     * packed it; every file's blob must be uploaded first (putReleaseFile).
     */
    files: Type.Optional(LocalSourcesSchema),
    /** Compose profiles the release enables (`skiff push --profile`); services of other profiles are left out. */
    profiles: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]*$' }), {
        maxItems: 32,
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateReleaseRequest = Static<typeof CreateReleaseRequestSchema>;

export const ReleaseStatusSchema = Type.Union([Type.Literal('pending'), Type.Literal('ready'), Type.Literal('failed')]);

/** What the check of a release's images at their registry found; a release is ready only once none is missing. */
export const ReleaseVerificationSchema = Type.Object({
  checkedAt: Type.String(),
  /** The first image that is not there (or could not be checked); null: every image was found. */
  failure: Type.Union([
    Type.Object({
      service: Type.String(),
      image: Type.String(),
      reason: Type.String(),
    }),
    Type.Null(),
  ]),
});
export type ReleaseVerification = Static<typeof ReleaseVerificationSchema>;

export const ReleaseSchema = Type.Object({
  id: Type.String(),
  fleet: Type.String(),
  version: Type.String(),
  status: ReleaseStatusSchema,
  services: Type.Array(Type.String()),
  images: Type.Record(Type.String(), Type.String()),
  notes: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  /** The user who pushed it; null for releases from before this was recorded. */
  pushedBy: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  /** Null while pending. */
  verification: Type.Optional(Type.Union([ReleaseVerificationSchema, Type.Null()])),
  /**
   * Service name to the image reference the compose file wrote (e.g. a tag), for images `skiff push` copied into
   * the fleet's registry; `images` holds what devices run. Absent or empty for built services and older releases.
   */
  sources: Type.Optional(Type.Record(Type.String(), Type.String())),
  /**
   * Only in the answer to a create without a version: true when the fleet's newest release (not failed) already
   * had exactly this content (normalised services, image digests, volumes and networks); it is returned and no
   * release was made.
   */
  unchanged: Type.Optional(Type.Boolean()),
  /** The id of the release key that signed it; null: pushed unsigned. */
  signedBy: Type.Optional(Type.Union([KeyIdSchema, Type.Null()])),
  /** Its host privileges and whether an operator must (or did) approve it before devices get it. */
  review: Type.Optional(ReleaseReviewSchema),
  /**
   * The platforms (linux/arm64, ...) every image of the release has, found when it was verified; a device of
   * another platform keeps its release. Null while pending, and for releases verified before platforms were read.
   */
  platforms: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
});
export type Release = Static<typeof ReleaseSchema>;

export const PinRequestSchema = Type.Object(
  {
    /** Release id or version. */
    release: Type.String({ minLength: 1 }),
  },
  { additionalProperties: false },
);
export type PinRequest = Static<typeof PinRequestSchema>;

/** All of a device's image downloads as one figure; source 'delta' when any image comes as patches. */
export const DownloadSummarySchema = Type.Object({
  source: Type.Union([Type.Literal('delta'), Type.Literal('full')]),
  bytesDone: Type.Integer({ minimum: 0 }),
  bytesTotal: Type.Integer({ minimum: 0 }),
  percent: Type.Number({ minimum: 0, maximum: 100 }),
});
export type DownloadSummary = Static<typeof DownloadSummarySchema>;

export const DeviceSummarySchema = Type.Object({
  uuid: Type.String(),
  /** 8 characters of Crockford base32, for a printed label; accepted wherever a uuid is. */
  shortId: Type.Optional(Type.String()),
  /** preauthorized, pending, accepted or rejected (protocol/device-auth.ts); revoked ones are rejected. */
  authStatus: Type.Optional(Type.String()),
  name: Type.String(),
  fleet: Type.String(),
  deviceType: Type.String(),
  online: Type.Boolean(),
  lastSeen: Type.Union([Type.String(), Type.Null()]),
  /** The OCI platform the device reported when it registered (linux/arm64, ...); null if it never said. */
  platform: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  /** Version of the release the device should run. */
  targetRelease: Type.Union([Type.String(), Type.Null()]),
  /**
   * Why the device's target is not its fleet's release, e.g. that release has no image for the device's
   * platform, so the device keeps an earlier one; null when the device gets its fleet's release.
   */
  targetHeldBack: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  /** Version of the release the device reports running in full. */
  runningRelease: Type.Union([Type.String(), Type.Null()]),
  /**
   * What runs while services run several releases (midway through an update): each service with its release's
   * version, "reader 2, tunnel 1"; absent when runningRelease says it all.
   */
  running: Type.Optional(Type.String()),
  updateStatus: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  /** Version of the release this device is pinned to, overriding its fleet; null when it follows its fleet. */
  pinnedRelease: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  /** When it was revoked; null while it may talk to the API. */
  revokedAt: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  note: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  tags: Type.Optional(Type.Array(Type.String())),
  /** Images in flight in the last report, summed; absent when nothing is downloading. */
  download: Type.Optional(DownloadSummarySchema),
  /** Bytes the device reported using this calendar month (UTC), every purpose; absent when it reported none. */
  dataUseBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Who has the box and where, as commissioned (`skiff device commission`); absent or null: not said. */
  customer: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  site: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  address: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  /** The serial of the meter it was commissioned to read. */
  meterSerial: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  /** The serial the meter it reads announces, as its last report said; absent when it said none. */
  reportedMeterSerial: Type.Optional(Type.String()),
  /** The meter announces another serial than the commissioned one: connected to the wrong meter? */
  wrongMeter: Type.Optional(Type.Boolean()),
});
export type DeviceSummary = Static<typeof DeviceSummarySchema>;

/**
 * A meter's equipment identifier as people type it from its label and as the meter reader decodes it from the
 * DSMR telegram (OBIS 0-0:96.1.1): printable, no spaces, at most 96 characters (DSMR allows 96 hex digits).
 */
export const MeterSerialSchema = Type.String({ minLength: 1, maxLength: 96, pattern: '^[!-~]+$' });

/** Whether two meter serials name the same meter: letters' case does not count (labels and telegrams differ). */
export function sameMeter(a: string, b: string): boolean {
  return a.trim().toUpperCase() === b.trim().toUpperCase();
}

/**
 * A device tag: a bare label (`canary`) or a key=value pair (`region=north`), which selectors match by key or by
 * pair (protocol/device-selector.ts). No `*`, `|` or `,`: those mean something in a selector.
 */
export const DeviceTagSchema = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9._:-]+(=[A-Za-z0-9._:/@+-]+)?$',
});
export const MAX_DEVICE_TAGS = 32;

/** What people may change about a device; at least one field. */
export const UpdateDeviceRequestSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    /** Free text for people, e.g. where the box hangs; null clears it. */
    note: Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Null()])),
    /** Replaces the device's tags. */
    /** Commissioning: who has the box, where it hangs, the meter it reads; null clears one. */
    customer: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Null()])),
    site: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Null()])),
    address: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 500 }), Type.Null()])),
    meterSerial: Type.Optional(Type.Union([MeterSerialSchema, Type.Null()])),
    tags: Type.Optional(Type.Array(DeviceTagSchema, { maxItems: MAX_DEVICE_TAGS, uniqueItems: true })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateDeviceRequest = Static<typeof UpdateDeviceRequestSchema>;

/** RFC 9457 problem details: every error answer of the API has this shape. */
export const ProblemSchema = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String(),
  /** Where the input was wrong: a JSON pointer or compose path, and what is wrong there. */
  errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
});
export type Problem = Static<typeof ProblemSchema>;

// Host OS releases on the wire: signed RAUC bundles per device type, uploaded by developers, pinned per fleet or
// device by operators (the device's pin wins; no pin: the host OS is left alone), downloaded by devices with Range.
import { Type, type Static } from '@sinclair/typebox';

/** RAUC's compatible strings and Skiff's device types share this shape. */
export const DeviceTypeSchema = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' });
export const OsVersionSchema = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._+~-]*$' });

export const OsReleaseSchema = Type.Object(
  {
    id: Type.String(),
    deviceType: Type.String(),
    version: Type.String(),
    digest: Type.String({ pattern: '^sha256:[a-f0-9]{64}$' }),
    size: Type.Integer({ minimum: 1 }),
    /** The bundle manifest's compatible, when the API read it with `rauc info`. */
    compatible: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String(),
    uploadedBy: Type.String(),
  },
  { additionalProperties: false },
);
export type OsRelease = Static<typeof OsReleaseSchema>;

export const OsUploadQuerySchema = Type.Object(
  {
    deviceType: DeviceTypeSchema,
    version: OsVersionSchema,
  },
  { additionalProperties: false },
);
export type OsUploadQuery = Static<typeof OsUploadQuerySchema>;

export const OsListQuerySchema = Type.Object(
  {
    deviceType: Type.Optional(DeviceTypeSchema),
  },
  { additionalProperties: false },
);

export const OsPinRequestSchema = Type.Object(
  {
    /** Host OS release id, or version (of the fleet's or device's type). */
    release: Type.String({ minLength: 1, maxLength: 64 }),
  },
  { additionalProperties: false },
);
export type OsPinRequest = Static<typeof OsPinRequestSchema>;

/** A fleet's or a device's host OS pin. */
export const OsPinSchema = Type.Object(
  {
    /** The scope's own pin; null: none. */
    pinned: Type.Union([OsReleaseSchema, Type.Null()]),
    /** What the device gets (its pin, else its fleet's); on a fleet, the same as `pinned`. */
    effective: Type.Union([OsReleaseSchema, Type.Null()]),
  },
  { additionalProperties: false },
);
export type OsPin = Static<typeof OsPinSchema>;

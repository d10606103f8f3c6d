// A fleet's provisioning keys: several may admit devices at once (one per installer batch), each revocable and
// optionally expiring. The API keeps only their sha256; the secret is in the answer that created it and nowhere else.
import { Type, type Static } from '@sinclair/typebox';

export const ProvisioningKeySchema = Type.Object({
  /** Public id, to revoke it by. */
  id: Type.String(),
  fleet: Type.String(),
  label: Type.Union([Type.String(), Type.Null()]),
  /** The user who made it ('system' for the key a fleet had before keys were records). */
  createdBy: Type.String(),
  createdAt: Type.String(),
  /** Null: it never expires. */
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
});
export type ProvisioningKey = Static<typeof ProvisioningKeySchema>;

/** The answer to creating a key: the only time the secret is shown. */
export const NewProvisioningKeySchema = Type.Composite([ProvisioningKeySchema, Type.Object({ key: Type.String() })]);
export type NewProvisioningKey = Static<typeof NewProvisioningKeySchema>;

export const CreateProvisioningKeyRequestSchema = Type.Object(
  {
    /** What the key is for, e.g. "batch 2026-03 Utrecht", to tell keys apart when revoking. */
    label: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
  },
  { additionalProperties: false },
);
export type CreateProvisioningKeyRequest = Static<typeof CreateProvisioningKeyRequestSchema>;

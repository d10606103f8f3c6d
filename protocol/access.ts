// Who may do what on the API: users with roles, the API tokens they call with, and the audit log of changes.
// Paths are in api.ts (paths.users, paths.userTokens, paths.audit, paths.me).
import { Type, type Static } from '@sinclair/typebox';

/**
 * viewer reads; developer also pushes releases; operator also rolls out (pins) and manages devices; admin does
 * everything, including users. developer and operator do not include each other.
 */
export const ROLES = ['viewer', 'developer', 'operator', 'admin'] as const;
export const RoleSchema = Type.Union(ROLES.map((role) => Type.Literal(role)));
export type Role = Static<typeof RoleSchema>;

const UserName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9._-]*$' });

export const UserSchema = Type.Object({
  name: Type.String(),
  role: RoleSchema,
  createdAt: Type.String(),
});
export type User = Static<typeof UserSchema>;

export const CreateUserRequestSchema = Type.Object(
  {
    name: UserName,
    role: RoleSchema,
  },
  { additionalProperties: false },
);
export type CreateUserRequest = Static<typeof CreateUserRequestSchema>;

export const CreateTokenRequestSchema = Type.Object(
  {
    /** What the token is for, e.g. "ci" or "laptop", to tell tokens apart when revoking. */
    label: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);
export type CreateTokenRequest = Static<typeof CreateTokenRequestSchema>;

/** An API token as listed: never the secret itself, which exists only in the answer that created it. */
export const ApiTokenSchema = Type.Object({
  /** Public id, to revoke it by. */
  id: Type.String(),
  user: Type.String(),
  label: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  /** Updated at most once a minute. */
  lastUsedAt: Type.Union([Type.String(), Type.Null()]),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
});
export type ApiToken = Static<typeof ApiTokenSchema>;

/** The answer to creating a token: the only time the secret is shown. */
export const NewApiTokenSchema = Type.Composite([ApiTokenSchema, Type.Object({ token: Type.String() })]);
export type NewApiToken = Static<typeof NewApiTokenSchema>;

export const AuditEntrySchema = Type.Object({
  /** Increasing: entries are listed newest (highest) first; `before` pages on with the last id seen. */
  id: Type.Integer(),
  at: Type.String(),
  /** A user's name, 'device:<uuid>' for what a device did, or 'system' for what the API did at start. */
  actor: Type.String(),
  /** e.g. fleet.pin, fleet.track-latest, device.pin, device.revoke, release.create, token.create. */
  action: Type.String(),
  /** What was changed: 'fleet:<name>', 'device:<uuid>', 'release:<id>' or 'user:<name>'. */
  target: Type.String(),
  /** The fleet the change concerns, when it concerns one. */
  fleet: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Record(Type.String(), Type.Unknown()),
});
export type AuditEntry = Static<typeof AuditEntrySchema>;

export const AUDIT_DEFAULT_LIMIT = 100;
export const AUDIT_MAX_LIMIT = 1000;

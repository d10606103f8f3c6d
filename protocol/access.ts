// Who may do what on the API: users with roles, the action classes routes declare (protocol/http/), the API tokens
// users call with, and the audit log of changes. Which role may do which action is the API's policy (its role table).
import { Type, type Static } from '@sinclair/typebox';

/**
 * viewer reads; developer also pushes releases; operator also rolls out (pins) and manages devices; admin does
 * everything, including users. developer and operator do not include each other.
 */
export const ROLES = ['viewer', 'developer', 'operator', 'admin'] as const;
export const RoleSchema = Type.Union(ROLES.map((role) => Type.Literal(role)));
export type Role = Static<typeof RoleSchema>;

/** The class of action a people's route performs: its declaration names one, the API's role table says who may. */
export type Action =
  /** Every GET of fleets, releases, devices and the caller's own user. */
  | 'read'
  /** Seeing a fleet's provisioning key: it registers (and re-registers) devices. */
  | 'provisioning-key.read'
  /** Create and revoke a fleet's provisioning keys. */
  | 'provisioning-key.manage'
  | 'fleet.create'
  | 'release.push'
  /** Replace the release keys a fleet trusts: who may sign what its devices run. */
  | 'release-keys.manage'
  /** Pin a fleet, let it track its latest release. */
  | 'fleet.rollout'
  /** Pin one device, let it track its fleet, rename, revoke, accept. */
  | 'device.manage'
  | 'audit.read'
  /** Scrape /metrics with an API token (SKIFF_METRICS_TOKEN is the other way in). */
  | 'metrics.read'
  /** Create and list users. */
  | 'user.manage'
  /** Create, list and revoke the API tokens of the user named in the path. */
  | 'token.manage'
  /** Read a device's service logs: they may carry secrets and household data, so not every viewer. */
  | 'device.logs'
  /** Get a short-lived SSH certificate for one device: a shell on it, through the jump host. */
  | 'device.ssh'
  /** Ask which keys the jump host admits (its AuthorizedKeysCommand; its own token is the other way in). */
  | 'jump-host.keys'
  /** See and rotate the API's target-signing key. */
  | 'signing-key.manage'
  /** Approve or reject a release held for review, and set the fleet's review rules (protocol/release-review.ts). */
  | 'release.approve'
  /** Register and remove webhooks: they send fleet events to any URL, so only global admins. */
  | 'webhook.manage';

const UserName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9._-]*$' });

/**
 * A user's role on every fleet, unless a fleet grant says otherwise for one fleet. Null: no role outside the fleets
 * granted to the user (they see and do nothing else).
 */
export const GlobalRoleSchema = Type.Union([RoleSchema, Type.Null()]);

/** Fleet name to the role granted there: on that fleet it replaces the global role, up or down. */
export const FleetRolesSchema = Type.Record(Type.String(), RoleSchema);
export type FleetRoles = Static<typeof FleetRolesSchema>;

export const UserSchema = Type.Object({
  name: Type.String(),
  role: GlobalRoleSchema,
  /** The fleet grants; absent when there are none (and from APIs from before them). */
  fleetRoles: Type.Optional(FleetRolesSchema),
  createdAt: Type.String(),
});
export type User = Static<typeof UserSchema>;

export const CreateUserRequestSchema = Type.Object(
  {
    name: UserName,
    /** Null: a user with fleet grants only (PUT /v1/users/{name}/fleet-roles/{fleet}). */
    role: GlobalRoleSchema,
  },
  { additionalProperties: false },
);
export type CreateUserRequest = Static<typeof CreateUserRequestSchema>;

/** One fleet grant, as listed. */
export const FleetRoleSchema = Type.Object({
  user: Type.String(),
  fleet: Type.String(),
  role: RoleSchema,
  grantedBy: Type.String(),
  grantedAt: Type.String(),
});
export type FleetRole = Static<typeof FleetRoleSchema>;

export const GrantFleetRoleRequestSchema = Type.Object({ role: RoleSchema }, { additionalProperties: false });
export type GrantFleetRoleRequest = Static<typeof GrantFleetRoleRequestSchema>;

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

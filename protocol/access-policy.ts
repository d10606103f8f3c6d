// The one table of who may do what, in the contract so the API enforces it and the dashboard hides what it would
// refuse from the same table. Every route declares the class of action it performs (protocol/http/; the
// classes are contract, protocol/access.ts); this table, the API's policy, says which role that needs. Roles form a
// diamond, not a ladder: viewer < developer, viewer < operator, both < admin, so a developer may push releases but
// not pin, and an operator may pin and manage devices but not push.
//
// Roles are held globally and per fleet: on a fleet, a user's role is the one granted on that fleet if any, else
// the global role (which may be none). A request acts on one fleet when its path names one (`:fleet`, or `:uuid`:
// the device's fleet) or its listing is filtered to one (`?fleet=`, e.g. the audit log); its check uses the role
// there. Requests that name no fleet (host OS releases, the whole audit log), and the actions the table marks
// global (users, their tokens and fleet roles, creating fleets, metrics), use the global role, except
// reads: anyone with a role somewhere may list, and sees only the fleets they may read.
import type { Action, Role } from './access.js';

export interface AccessRule {
  minimum: Role;
  /** Also allowed when the user named in the request path is the caller, whatever the caller's role. */
  self?: boolean;
  /** Roles beside the diamond's path from `minimum` (a developer and an operator both debug devices). */
  also?: readonly Role[];
  /**
   * Checked on the global role even when the request names a fleet: who may use the API is no one fleet's
   * business (else an admin of one fleet could lower a global admin's role there and lock them out of it).
   */
  global?: true;
}

export const ACCESS: Readonly<Record<Action, AccessRule>> = {
  read: { minimum: 'viewer' },
  'provisioning-key.read': { minimum: 'operator' },
  'provisioning-key.manage': { minimum: 'operator' },
  'fleet.create': { minimum: 'admin', global: true },
  'release.push': { minimum: 'developer' },
  'release-keys.manage': { minimum: 'admin' },
  'fleet.rollout': { minimum: 'operator' },
  'device.manage': { minimum: 'operator' },
  'audit.read': { minimum: 'operator' },
  'metrics.read': { minimum: 'admin', global: true },
  'user.manage': { minimum: 'admin', global: true },
  'token.manage': { minimum: 'admin', self: true, global: true },
  'device.logs': { minimum: 'operator', also: ['developer'] },
  'device.ssh': { minimum: 'operator' },
  'jump-host.keys': { minimum: 'admin', global: true },
  'signing-key.manage': { minimum: 'admin' },
  'release.approve': { minimum: 'operator' },
  'webhook.manage': { minimum: 'admin', global: true },
};

/** Whether `role` is `minimum` or above it in the diamond. */
export function includes(role: Role, minimum: Role): boolean {
  return role === minimum || role === 'admin' || minimum === 'viewer';
}

export interface Principal {
  name: string;
  /** Null: no role outside the fleets granted. */
  role: Role | null;
  /** Fleet name to the role granted there. */
  fleetRoles?: Readonly<Record<string, Role>>;
}

/** Where a request acts: on one fleet (null: none), and about which user (the path's `:name`). */
export interface AccessScope {
  fleet?: string | null;
  subject?: string;
}

/** The caller's role on `fleet`: the fleet's grant, else the global role; the global role when no fleet is named. */
export function roleOn(caller: Principal, fleet: string | null | undefined): Role | null {
  const granted = fleet === null || fleet === undefined ? undefined : caller.fleetRoles?.[fleet];
  return granted ?? caller.role;
}

function roleMay(role: Role | null, action: Action): boolean {
  if (role === null) return false;
  const rule = ACCESS[action];
  return includes(role, rule.minimum) || (rule.also?.includes(role) ?? false);
}

/** Whether the caller may do `action` where `scope` says (its global role when the scope names no fleet). */
export function permits(caller: Principal, action: Action, scope: AccessScope = {}): boolean {
  const rule = ACCESS[action];
  const fleet = rule.global === true ? null : scope.fleet;
  return roleMay(roleOn(caller, fleet), action) || (rule.self === true && scope.subject === caller.name);
}

/** Whether the caller may do `action` globally or on at least one fleet: what a listing needs before it filters. */
export function permitsSomewhere(caller: Principal, action: Action): boolean {
  return roleMay(caller.role, action) || Object.values(caller.fleetRoles ?? {}).some((role) => roleMay(role, action));
}

/** "operator or admin", "admin, or the user themself": for the 403 a caller reads. */
export function requirementText(action: Action): string {
  const rule = ACCESS[action];
  const roles =
    rule.minimum === 'admin'
      ? 'admin'
      : rule.minimum === 'viewer'
        ? 'any role'
        : `${[...(rule.also ?? []), rule.minimum].join(', ')} or admin`;
  return rule.self ? `${roles}, or the user themself` : roles;
}

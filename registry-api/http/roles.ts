// The one table of who may do what. Every route declares the class of action it performs (protocol/http/; the
// classes are contract, protocol/access.ts); this table, the API's policy, says which role that needs. Roles form a
// diamond, not a ladder: viewer < developer, viewer < operator, both < admin, so a developer may push releases but
// not pin, and an operator may pin and manage devices but not push.
import type { Action, Role } from '../../protocol/access.js';

export interface AccessRule {
  minimum: Role;
  /** Also allowed when the user named in the request path is the caller, whatever the caller's role. */
  self?: boolean;
  /** Roles beside the diamond's path from `minimum` (a developer and an operator both debug devices). */
  also?: readonly Role[];
}

export const ACCESS: Readonly<Record<Action, AccessRule>> = {
  read: { minimum: 'viewer' },
  'provisioning-key.read': { minimum: 'operator' },
  'provisioning-key.manage': { minimum: 'operator' },
  'fleet.create': { minimum: 'admin' },
  'release.push': { minimum: 'developer' },
  'release-keys.manage': { minimum: 'admin' },
  'fleet.rollout': { minimum: 'operator' },
  'device.manage': { minimum: 'operator' },
  'audit.read': { minimum: 'operator' },
  'metrics.read': { minimum: 'admin' },
  'user.manage': { minimum: 'admin' },
  'token.manage': { minimum: 'admin', self: true },
  'device.logs': { minimum: 'operator', also: ['developer'] },
  'signing-key.manage': { minimum: 'admin' },
};

/** Whether `role` is `minimum` or above it in the diamond. */
export function includes(role: Role, minimum: Role): boolean {
  return role === minimum || role === 'admin' || minimum === 'viewer';
}

export interface Principal {
  name: string;
  role: Role;
}

/** `subject`: the user the request is about (the path's `:name`), for rules that allow the user themself. */
export function permits(caller: Principal, action: Action, subject?: string): boolean {
  const rule = ACCESS[action];
  return (
    includes(caller.role, rule.minimum) ||
    (rule.also?.includes(caller.role) ?? false) ||
    (rule.self === true && subject === caller.name)
  );
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

// What the signed-in user may do, to hide what they may not: the API refuses it anyway (registry-api/http/roles.ts
// is the policy; this mirrors it for the screen only). Keyed by every action class, so a class added to
// protocol/access.ts fails this file's type check until it is placed here too.
import type { Action, Role, User } from '../../protocol/access.js';

interface Rule {
  minimum: Role;
  also?: readonly Role[];
  global?: true;
}

const RULES: Readonly<Record<Action, Rule>> = {
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
  'token.manage': { minimum: 'admin', global: true },
  'device.logs': { minimum: 'operator', also: ['developer'] },
  'signing-key.manage': { minimum: 'admin' },
  'release.approve': { minimum: 'operator' },
};

function roleMay(role: Role | null | undefined, action: Action): boolean {
  if (role === null || role === undefined) return false;
  const rule = RULES[action];
  return role === rule.minimum || role === 'admin' || rule.minimum === 'viewer' || (rule.also?.includes(role) ?? false);
}

/** On `fleet` (its grant, else the global role), or globally when no fleet is named. */
export function may(user: User, action: Action, fleet?: string | null): boolean {
  const global = RULES[action].global === true || fleet === undefined || fleet === null;
  return roleMay(global ? user.role : (user.fleetRoles?.[fleet] ?? user.role), action);
}

/** Globally or on at least one fleet: whether a page about the action is worth showing. */
export function maySomewhere(user: User, action: Action): boolean {
  return (
    roleMay(user.role, action) ||
    (RULES[action].global !== true && Object.values(user.fleetRoles ?? {}).some((role) => roleMay(role, action)))
  );
}

// What the signed-in user may do, to hide what they may not: the API refuses it anyway. Both read the one policy
// table, protocol/access-policy.ts.
import type { Action, User } from '../../protocol/access.js';
import { ACCESS, permits } from '../../protocol/access-policy.js';

/** On `fleet` (its grant, else the global role), or globally when no fleet is named. */
export function may(user: User, action: Action, fleet?: string | null): boolean {
  return permits(user, action, { fleet: fleet ?? null });
}

/** Globally or on at least one fleet: whether a page about the action is worth showing. */
export function maySomewhere(user: User, action: Action): boolean {
  // A global action (users, tokens, metrics) is judged on the global role alone: a fleet's grant never opens it.
  return (
    permits(user, action) ||
    (ACCESS[action].global !== true &&
      Object.keys(user.fleetRoles ?? {}).some((fleet) => permits(user, action, { fleet })))
  );
}

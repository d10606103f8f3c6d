// Retry pacing shared by every loop that talks to something that can fail (engine, API).

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** Delay before retry number `attempt` (1 for the first retry): doubling from initialMs, capped at maxMs. */
export function backoffDelay(attempt: number, policy: BackoffPolicy): number {
  const exponent = Math.max(0, attempt - 1);
  return Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(exponent, 30));
}

/**
 * `ms` moved by up to +/- `fraction` of itself, so a fleet that lost its API at the same moment does not come
 * back at the same moment.
 */
export function withJitter(ms: number, fraction: number, random: () => number = Math.random): number {
  return Math.max(0, Math.round(ms * (1 + fraction * (2 * random() - 1))));
}

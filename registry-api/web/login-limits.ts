// Failed logins counted per user name and per client address in fixed windows: past the limit, further attempts
// are refused (429) before any password is hashed, until the window ends. Kept in this process: with several API
// instances behind a balancer an attacker gets each instance's budget, which still bounds guesses to a handful a
// minute per instance. The tables are bounded: the oldest entries go first when one is full.
export interface LimitRule {
  /** Failures allowed in one window. */
  max: number;
  windowMs: number;
}

export const USER_LIMIT: LimitRule = { max: 5, windowMs: 15 * 60_000 };
export const ADDRESS_LIMIT: LimitRule = { max: 20, windowMs: 15 * 60_000 };
const MAX_ENTRIES = 10_000;

interface Window {
  failures: number;
  endsAt: number;
}

class FailureCounter {
  private readonly windows = new Map<string, Window>();
  constructor(private readonly rule: LimitRule) {}

  /** Milliseconds until `key` may try again; 0: it may now. */
  blockedFor(key: string, now: number): number {
    const window = this.windows.get(key);
    if (!window || window.endsAt <= now) return 0;
    return window.failures >= this.rule.max ? window.endsAt - now : 0;
  }

  fail(key: string, now: number): void {
    const window = this.windows.get(key);
    if (window && window.endsAt > now) {
      window.failures += 1;
      return;
    }
    if (this.windows.size >= MAX_ENTRIES) {
      const oldest = this.windows.keys().next();
      if (!oldest.done) this.windows.delete(oldest.value);
    }
    this.windows.delete(key);
    this.windows.set(key, { failures: 1, endsAt: now + this.rule.windowMs });
  }

  clear(key: string): void {
    this.windows.delete(key);
  }
}

export interface LoginLimitRules {
  user?: LimitRule;
  address?: LimitRule;
}

export class LoginLimits {
  private readonly users: FailureCounter;
  private readonly addresses: FailureCounter;

  constructor(rules: LoginLimitRules = {}) {
    this.users = new FailureCounter(rules.user ?? USER_LIMIT);
    this.addresses = new FailureCounter(rules.address ?? ADDRESS_LIMIT);
  }

  /** Milliseconds until this user from this address may try again; 0: now. */
  blockedFor(user: string, address: string, now: number): number {
    return Math.max(this.users.blockedFor(user, now), this.addresses.blockedFor(address, now));
  }

  failed(user: string, address: string, now: number): void {
    this.users.fail(user, now);
    this.addresses.fail(address, now);
  }

  /** A success clears the user's count (not the address's: one good account must not launder guesses at others). */
  succeeded(user: string): void {
    this.users.clear(user);
  }
}

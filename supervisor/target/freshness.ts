// Whether a signed target is fresh enough to act on: the rollback and freeze protections of TUF/Uptane, after the
// signature says the API made it. Pure: the clock and what the device accepted before are passed in.
//
// The rule (also in protocol/signature.ts): a target must carry `issued`; its version must not be lower than the
// highest this device accepted (equal only for the very same content: the API serves the same signed bytes until it
// re-issues); and it must not have expired. The device's notion of now is the later of its system clock and the
// issuedAt of the last target it verified, because a Pi has no real-time clock and can boot with a clock far behind;
// with a clock far ahead, targets look expired until the clock is corrected (they are refused, nothing runs
// differently). A skew of CLOCK_SKEW_MS is allowed past expiresAt.
import type { TargetIssue } from '../../protocol/target-state.js';

/** How far past its expiresAt a target is still taken: clocks of devices and API differ a little. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;

/** What the device knows from the last target it accepted (the persisted one); nothing before the first. */
export interface AcceptedIssue {
  version: number;
  issuedAtMs: number;
}

export type FreshnessVerdict =
  | { fresh: true }
  | { fresh: false; kind: 'unversioned' | 'replayed' | 'expired' | 'malformed'; reason: string };

export class FreshnessError extends Error {
  constructor(
    readonly what: string,
    readonly kind: Exclude<FreshnessVerdict, { fresh: true }>['kind'],
    readonly reason: string,
  ) {
    super(`${what}: refused: ${reason}`);
    this.name = 'FreshnessError';
  }
}

/** The device's now: its system clock, but never earlier than the issuedAt of the last target it verified. */
export function deviceNow(systemNowMs: number, accepted: AcceptedIssue | null): number {
  return accepted === null ? systemNowMs : Math.max(systemNowMs, accepted.issuedAtMs);
}

/** `issued` of a target the device accepted, as the freshness rule needs it; null when it has none. */
export function acceptedIssueOf(issued: TargetIssue | undefined): AcceptedIssue | null {
  if (issued === undefined) return null;
  const issuedAtMs = Date.parse(issued.issuedAt);
  return Number.isNaN(issuedAtMs) ? null : { version: issued.version, issuedAtMs };
}

function expiry(issued: TargetIssue, nowMs: number, skewMs: number): string | null {
  const expiresAtMs = Date.parse(issued.expiresAt);
  if (nowMs <= expiresAtMs + skewMs) return null;
  return (
    `target expired: version ${issued.version} was valid until ${issued.expiresAt}, this device's time is ` +
    `${new Date(nowMs).toISOString()} (clock skew allowed: ${skewMs / 1000} s); the device keeps running what it ` +
    'has. If its clock is wrong, correct it (NTP): the target is taken again once the clock is right'
  );
}

/**
 * Judges a target already verified against the API's key. `sameAsAccepted`: its content (with `issued`) equals the
 * accepted target's, the one case where an equal version is not a conflicting replay.
 */
export function judgeFreshness(
  issued: TargetIssue | undefined,
  accepted: AcceptedIssue | null,
  systemNowMs: number,
  sameAsAccepted: boolean,
  skewMs = CLOCK_SKEW_MS,
): FreshnessVerdict {
  if (issued === undefined) {
    return {
      fresh: false,
      kind: 'unversioned',
      reason: 'it carries no issued version and expiry, so it could be an old target replayed',
    };
  }
  const issuedAtMs = Date.parse(issued.issuedAt);
  const expiresAtMs = Date.parse(issued.expiresAt);
  if (Number.isNaN(issuedAtMs) || Number.isNaN(expiresAtMs) || expiresAtMs <= issuedAtMs) {
    return {
      fresh: false,
      kind: 'malformed',
      reason: `its validity ${issued.issuedAt} .. ${issued.expiresAt} is not a time span`,
    };
  }
  if (accepted !== null) {
    if (issued.version < accepted.version) {
      return {
        fresh: false,
        kind: 'replayed',
        reason: `version ${issued.version} is lower than version ${accepted.version} this device accepted already (an old target replayed)`,
      };
    }
    if (issued.version === accepted.version && !sameAsAccepted) {
      return {
        fresh: false,
        kind: 'replayed',
        reason: `version ${issued.version} is the one this device accepted already, with other content`,
      };
    }
  }
  const expired = expiry(issued, deviceNow(systemNowMs, accepted), skewMs);
  if (expired !== null) return { fresh: false, kind: 'expired', reason: expired };
  return { fresh: true };
}

/** Why the target the device runs is stale ("target expired ..."), or null while it is within its validity. */
export function staleness(issued: TargetIssue | undefined, systemNowMs: number, skewMs = CLOCK_SKEW_MS): string | null {
  if (issued === undefined) return null;
  return expiry(issued, deviceNow(systemNowMs, acceptedIssueOf(issued)), skewMs);
}

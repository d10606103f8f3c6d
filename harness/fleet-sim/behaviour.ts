// How simulated devices behave: how long an update takes them, how often and how they poll, report and go away,
// and which of them fail a release and in what way. Random choices that must stay put (does this device fail this
// release?) are hashed from the device and the release, so a device that polls again decides the same.
import { createHash } from 'node:crypto';

/**
 * How a device that fails a release shows it, each a case rollouts must count as failed:
 * - error: the update itself fails (updateStatus 'error'), the device keeps running the old release;
 * - unhealthy: it runs the release, a service's healthcheck fails and it restarts in a loop;
 * - app-health: it runs the release and its services are up, but the application says it does not do its job;
 * - rollback: the device gave up on the release by itself and went back to its last good one.
 */
export const FAILURE_MODES = ['error', 'unhealthy', 'app-health', 'rollback'] as const;
export type FailureMode = (typeof FAILURE_MODES)[number];

export interface OfflineSpells {
  /** The share of devices (0..1) that have spells at all. */
  share: number;
  /** Mean time online between spells. */
  everyMs: number;
  /** Mean length of a spell. */
  forMs: number;
}

export interface SimBehaviour {
  /** Mean time from a new target to running it (download and start), jittered. */
  applyMs: number;
  /** Every interval is drawn from [mean * (1 - jitter), mean * (1 + jitter)]; 0..1. */
  jitter: number;
  /**
   * Polls besides those the push channel asks for (the device's poll interval, time compressed as the caller
   * likes); null: polls only when its channel opens or announces a change, like a supervisor holding its channel.
   */
  pollIntervalMs: number | null;
  /** Whether devices hold a push channel open. */
  pushChannel: boolean;
  /** Reports with fresh metrics this often besides the reports changes make; null: none. */
  metricsIntervalMs: number | null;
  /** The share of devices (0..1) that fail a release; which ones is fixed per (device, release). */
  failureRate: number;
  failure: FailureMode;
  /** Only these release ids can fail; null: any release. */
  failingReleases: readonly string[] | null;
  offline: OfflineSpells | null;
}

export const DEFAULT_BEHAVIOUR: SimBehaviour = {
  applyMs: 2_000,
  jitter: 0.5,
  pollIntervalMs: null,
  pushChannel: true,
  metricsIntervalMs: null,
  failureRate: 0,
  failure: 'error',
  failingReleases: null,
  offline: null,
};

/** A fraction in [0, 1) fixed by the words: the same device and release always draw the same. */
export function fixedDraw(...words: string[]): number {
  const digest = createHash('sha256').update(words.join('\0')).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

/** `meanMs` jittered by `jitter` (0..1) either way. */
export function jittered(meanMs: number, jitter: number): number {
  return meanMs * (1 - jitter + 2 * jitter * Math.random());
}

/** Refuses a behaviour no device could have, saying which field is wrong and what it may be. */
export function checkBehaviour(b: SimBehaviour): void {
  const problems: string[] = [];
  if (!(b.applyMs >= 0)) problems.push(`applyMs must be >= 0, got ${b.applyMs}`);
  if (!(b.jitter >= 0 && b.jitter <= 1)) problems.push(`jitter must be within 0..1, got ${b.jitter}`);
  if (b.pollIntervalMs !== null && !(b.pollIntervalMs > 0))
    problems.push(`pollIntervalMs must be > 0 or null, got ${b.pollIntervalMs}`);
  if (b.metricsIntervalMs !== null && !(b.metricsIntervalMs > 0))
    problems.push(`metricsIntervalMs must be > 0 or null, got ${b.metricsIntervalMs}`);
  if (!(b.failureRate >= 0 && b.failureRate <= 1))
    problems.push(`failureRate must be within 0..1, got ${b.failureRate}`);
  if (!FAILURE_MODES.includes(b.failure)) problems.push(`failure must be one of ${FAILURE_MODES.join(', ')}`);
  if (b.offline !== null) {
    const { share, everyMs, forMs } = b.offline;
    if (!(share >= 0 && share <= 1)) problems.push(`offline.share must be within 0..1, got ${share}`);
    if (!(everyMs > 0) || !(forMs > 0)) problems.push(`offline.everyMs and offline.forMs must be > 0`);
  }
  if (problems.length > 0) throw new Error(`fleet simulator behaviour: ${problems.join('; ')}`);
}

// Whether a release does its job on this device, judged from plain data (no I/O, the time passed in): each
// service's container as the engine shows it, its restarts, and the health it reported against what its release
// declares (declaration.ts). watch.ts gathers the data; the state machine (state-machine.ts) acts on the verdict.
import type { AppHealth } from '../../protocol/state-report.js';
import type { HealthDeclaration } from './declaration.js';

/** A restart loop: at least this many restarts of one container within RESTART_LOOP_WINDOW_MS. */
export const RESTART_LOOP_COUNT = 3;
export const RESTART_LOOP_WINDOW_MS = 10 * 60_000;

/** The engine's restart count of one container as the supervisor saw it at one time. */
export interface RestartSample {
  atMs: number;
  count: number;
}

/**
 * Whether a container crash-loops: its restart count grew by RESTART_LOOP_COUNT or more within the window.
 * Samples are taken when the count changes, oldest first. A container created within the window counts from
 * zero; an older one from its count as the window opened (the newest sample before it), or from the first count
 * the supervisor saw when it has none that old.
 */
export function isRestartLoop(createdAtMs: number, samples: readonly RestartSample[], nowMs: number): boolean {
  const latest = samples.at(-1);
  const first = samples[0];
  if (latest === undefined || first === undefined) return false;
  const since = nowMs - RESTART_LOOP_WINDOW_MS;
  const atWindowStart = samples.filter((s) => s.atMs < since).at(-1);
  const baseline = createdAtMs >= since ? 0 : (atWindowStart ?? first).count;
  return latest.count - baseline >= RESTART_LOOP_COUNT;
}

/** What a service last told the supervisor about itself. */
export interface ReportedHealth {
  value: number | null;
  pass: boolean | null;
  detail: string | null;
  reportedAt: string;
}

/**
 * The service's application health judged against its declaration: a value passes at or above the declared
 * minimum (with none declared, any value passes), pass/fail is taken as said. Undefined: it reported nothing.
 */
export function appHealthOf(reported: ReportedHealth | null, declaration: HealthDeclaration): AppHealth | undefined {
  if (reported === null) return undefined;
  const ok = reported.pass ?? (declaration.min === null || (reported.value ?? Number.NaN) >= declaration.min);
  return { ok, value: reported.value, detail: reported.detail, reportedAt: reported.reportedAt };
}

/** What the state report says of one service beyond the engine's view. */
export interface ServiceHealthFacts {
  /** The container these facts are about: the service's container of the running release, if it has one. */
  containerId: string | null;
  restarts: number;
  restartLoop: boolean;
  appHealth?: AppHealth;
}

/** One service of the watched release as observed now. */
export interface ServiceObservation {
  name: string;
  /** The engine's state of the service's container of this release; null: it has none (yet). */
  state: string | null;
  /** The engine's healthcheck verdict; null without a healthcheck. */
  engineHealth: 'healthy' | 'unhealthy' | 'starting' | null;
  restartLoop: boolean;
  declaration: HealthDeclaration;
  appHealth: AppHealth | undefined;
}

export type Verdict =
  | { kind: 'healthy' }
  /** Not healthy now, for this reason; the release fails if this still holds at its deadline. */
  | { kind: 'not-yet'; reason: string }
  /** A failure that does not wait for the deadline. */
  | { kind: 'failed'; reason: string };

/** The release's verdict: a crash loop fails it at once; otherwise every service must run, healthy, doing its job. */
export function judgeRelease(services: readonly ServiceObservation[]): Verdict {
  const looping = services.filter((s) => s.restartLoop).map((s) => s.name);
  if (looping.length > 0) {
    return {
      kind: 'failed',
      reason: `restart loop: ${looping.join(', ')} restarted ${RESTART_LOOP_COUNT} or more times within ${RESTART_LOOP_WINDOW_MS / 60_000} minutes`,
    };
  }
  const problems: string[] = [];
  for (const s of services) {
    if (s.state === null) problems.push(`${s.name} has no container of this release`);
    else if (s.state !== 'running') problems.push(`${s.name} is ${s.state}`);
    else if (s.engineHealth === 'unhealthy' || s.engineHealth === 'starting')
      problems.push(`${s.name}'s healthcheck is ${s.engineHealth}`);
    else if (s.declaration.min !== null && s.appHealth === undefined)
      problems.push(`${s.name} reported no health (its release asks for at least ${s.declaration.min})`);
    else if (s.appHealth !== undefined && !s.appHealth.ok)
      problems.push(
        s.appHealth.value === null
          ? `${s.name} reports failing`
          : `${s.name} reports health ${s.appHealth.value}, below its minimum ${s.declaration.min ?? ''}`,
      );
  }
  return problems.length === 0 ? { kind: 'healthy' } : { kind: 'not-yet', reason: problems.join('; ') };
}

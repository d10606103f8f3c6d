// How a rollout judges its devices and phases, pure (the clock is passed in): a device is healthy when it runs the
// rollout's release converged with every service running, none unhealthy, none in a restart loop and no
// application saying it fails at its job; failed when it rolled the release back by itself, or is not healthy by
// its deadline; pending otherwise. A phase passes at the success threshold, halts above the failure threshold, and
// halts when its deadline passed without passing. How many devices the rate lets in by now is decided here too.
import type { PhaseCounts } from '../../protocol/rollouts.js';
import { clipReportText, type StateReport } from '../../protocol/state-report.js';

/** How much of a device's own reason for a rollback a judgement repeats. */
const REASON_CHARS = 200;

export type DeviceOutcome = 'healthy' | 'failed' | 'pending';

export interface DeviceJudgement {
  outcome: DeviceOutcome;
  /** Runs the release (healthy or not). */
  updated: boolean;
  /** Why it is not healthy, in a few words; null when it is. */
  reason: string | null;
}

/** What keeps a report of a device running `releaseId` from counting as healthy; null: nothing. */
export function unhealthyReason(report: StateReport, releaseId: string): string | null {
  if (report.releaseId !== releaseId) return `runs ${report.releaseId ?? 'no single release'}`;
  if (report.updateStatus !== 'converged') return `update ${report.updateStatus}`;
  if (report.services.length === 0) return 'runs no service';
  for (const service of report.services) {
    if (service.state !== 'running') return `service ${service.name} is ${service.state}`;
    if (service.health === 'unhealthy') return `service ${service.name} is unhealthy`;
    if (service.restartLoop === true) return `service ${service.name} is in a restart loop`;
    if (service.appHealth?.ok === false) return `service ${service.name} reports its application failing`;
  }
  return null;
}

/**
 * One assigned device: `report` is its latest (null: none yet), `deadline` when it must be healthy by.
 */
export function judgeDevice(report: StateReport | null, releaseId: string, deadline: Date, now: Date): DeviceJudgement {
  if (report?.rollback !== undefined && report.rollback.fromReleaseId === releaseId)
    return {
      outcome: 'failed',
      updated: false,
      // The device's own words go into the audit log and events: a line, not the 8 kB a report may carry.
      reason: `rolled the release back: ${clipReportText(report.rollback.reason.replace(/\s+/g, ' '), REASON_CHARS)}`,
    };
  const reason = report === null ? 'has not reported' : unhealthyReason(report, releaseId);
  const updated = report !== null && report.releaseId === releaseId;
  if (reason === null) return { outcome: 'healthy', updated, reason: null };
  return { outcome: now.getTime() >= deadline.getTime() ? 'failed' : 'pending', updated, reason };
}

export interface Thresholds {
  successPercent: number;
  failurePercent: number;
}

export type PhaseVerdict =
  | { kind: 'pass'; summary: string }
  | { kind: 'halt'; summary: string }
  /** Not decided yet: more devices to assign, or assigned ones still within their deadline. */
  | { kind: 'wait' };

const pct = (part: number, whole: number): string => `${whole === 0 ? 0 : Math.round((part * 1000) / whole) / 10}%`;

/**
 * The verdict on a phase from its counts. `allAssigned`: every device of the phase was assigned (a phase passes
 * only then; it can fail before). Past every deadline no device is pending, so a phase that neither passed nor
 * crossed the failure threshold by then halts as well.
 */
export function judgePhase(counts: PhaseCounts, thresholds: Thresholds, allAssigned: boolean): PhaseVerdict {
  const { devices, healthy, failed, pending } = counts;
  if (devices > 0 && failed * 100 > thresholds.failurePercent * devices)
    return {
      kind: 'halt',
      summary: `${failed} of ${devices} devices failed (${pct(failed, devices)} > ${thresholds.failurePercent}%)`,
    };
  if (!allAssigned) return { kind: 'wait' };
  if (healthy * 100 >= thresholds.successPercent * devices)
    return {
      kind: 'pass',
      summary: `${healthy} of ${devices} devices healthy (${pct(healthy, devices)} >= ${thresholds.successPercent}%), ${failed} failed`,
    };
  if (pending === 0)
    return {
      kind: 'halt',
      summary: `deadline passed with ${healthy} of ${devices} devices healthy (${pct(healthy, devices)} < ${thresholds.successPercent}%), ${failed} failed`,
    };
  return { kind: 'wait' };
}

/**
 * How many more devices the rate lets in at `now`: `ratePerMinute` a minute since the phase started, counting the
 * first at the start; null rate: all of them.
 */
export function allowance(
  ratePerMinute: number | null,
  phaseStartedAt: Date,
  now: Date,
  assignedInPhase: number,
  remaining: number,
): number {
  if (ratePerMinute === null) return remaining;
  const minutes = Math.max(0, now.getTime() - phaseStartedAt.getTime()) / 60_000;
  const due = Math.floor(ratePerMinute * minutes) + 1;
  return Math.max(0, Math.min(remaining, due - assignedInPhase));
}

/**
 * Splits the rollout's devices (canaries first, the rest in a stable order) into phases of cumulative percentages:
 * phase i ends at ceil(n * percent_i / 100) devices, never before the previous phase's end. Returns each phase's
 * size; devices past the last phase's share (its percentage below 100) are not part of the rollout.
 */
export function phaseSizes(total: number, percents: readonly number[]): number[] {
  const sizes: number[] = [];
  let end = 0;
  for (const percent of percents) {
    const cut = Math.min(total, Math.max(end, Math.ceil((total * percent) / 100)));
    sizes.push(cut - end);
    end = cut;
  }
  return sizes;
}

/** An assigned device of the phase as counting needs it. */
export interface PhaseDevice {
  uuid: string;
  state: 'pending' | 'assigned' | 'rolled-back';
  assignedAt: string | null;
}

export interface PhaseTally {
  counts: PhaseCounts;
  /** The first few failed devices and why, for the audit log and the event. */
  failures: { uuid: string; reason: string }[];
}

/** How many failures a tally names: the audit entry stays small whatever the phase's size. */
export const NAMED_FAILURES = 10;

/** Counts one phase's devices: `reports` holds the latest report of each assigned device (null: none yet). */
export function tallyPhase(
  devices: readonly PhaseDevice[],
  reports: ReadonlyMap<string, StateReport | null>,
  releaseId: string,
  deadlineSeconds: number,
  now: Date,
): PhaseTally {
  const counts: PhaseCounts = {
    devices: devices.length,
    assigned: 0,
    updated: 0,
    healthy: 0,
    failed: 0,
    pending: 0,
    rolledBack: 0,
  };
  const failures: { uuid: string; reason: string }[] = [];
  for (const device of devices) {
    if (device.state === 'rolled-back') {
      counts.rolledBack += 1;
      continue;
    }
    if (device.state === 'pending' || device.assignedAt === null) {
      counts.pending += 1;
      continue;
    }
    counts.assigned += 1;
    const deadline = new Date(Date.parse(device.assignedAt) + deadlineSeconds * 1000);
    const judged = judgeDevice(reports.get(device.uuid) ?? null, releaseId, deadline, now);
    if (judged.updated) counts.updated += 1;
    if (judged.outcome === 'healthy') counts.healthy += 1;
    else if (judged.outcome === 'pending') counts.pending += 1;
    else {
      counts.failed += 1;
      if (failures.length < NAMED_FAILURES) failures.push({ uuid: device.uuid, reason: judged.reason ?? 'failed' });
    }
  }
  return { counts, failures };
}

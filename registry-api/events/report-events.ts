// Which fleet events a device's new state report means, compared with the one before it: an update that started,
// finished or failed, and a rollback the device did by itself. Pure; the report route publishes what it returns
// once the report is stored.
import type { FleetEventKind } from '../../protocol/fleet-events.js';
import type { StateReport } from '../../protocol/state-report.js';

export interface ReportTransition {
  kind: FleetEventKind;
  /** The release it is about (an id). */
  releaseId: string | null;
  /** What happened, without the device's name (the caller adds it). */
  what: string;
  detail: Record<string, unknown>;
}

function updating(report: StateReport | null): boolean {
  return report !== null && (report.updateStatus === 'downloading' || report.updateStatus === 'applying');
}

export function reportTransitions(before: StateReport | null, after: StateReport): ReportTransition[] {
  const out: ReportTransition[] = [];
  const target = after.targetReleaseId;
  if (updating(after) && (!updating(before) || before?.targetReleaseId !== target)) {
    out.push({
      kind: 'device.update.started',
      releaseId: target,
      what: 'started updating',
      detail: { from: after.releaseId },
    });
  }
  if (
    after.updateStatus === 'converged' &&
    before !== null &&
    after.releaseId !== null &&
    // Running the release it was told to: converged back on an older one after a rollback is no update done.
    after.releaseId === after.targetReleaseId &&
    (before.updateStatus !== 'converged' || before.releaseId !== after.releaseId)
  ) {
    out.push({
      kind: 'device.update.done',
      releaseId: after.releaseId,
      what: 'runs',
      detail: { from: before.releaseId },
    });
  }
  if (after.updateStatus === 'error' && before?.updateStatus !== 'error') {
    out.push({
      kind: 'device.update.failed',
      releaseId: target,
      what: 'failed to update',
      detail: { error: after.error },
    });
  }
  const rollback = after.rollback;
  if (
    rollback !== undefined &&
    (before?.rollback?.at !== rollback.at || before.rollback.fromReleaseId !== rollback.fromReleaseId)
  ) {
    out.push({
      kind: 'device.rollback',
      releaseId: rollback.fromReleaseId,
      what: 'rolled back',
      detail: { from: rollback.fromReleaseId, to: rollback.toReleaseId, reason: rollback.reason },
    });
  }
  return out;
}

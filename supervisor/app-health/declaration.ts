// What a release declares about its application health, per service, in compose labels that reach the device in
// the target unchanged (protocol/target-state.ts ServiceSpec.labels):
//   io.skiff.health.min       the lowest health value the service may report and still count as doing its job
//                             (e.g. "0.9": 90 % good telegrams); a service that reports pass/fail passes or not.
//   io.skiff.health.deadline  how long the release has on a device to run healthy before the device rolls it back
//                             (a compose duration: "90s", "10m"); the release's deadline is its services' longest.
// A release none of whose services carries either label is not watched: it becomes the last good one once the
// device converged to it, and is never rolled back.
import { durationSeconds } from '../../protocol/compose/syntax.js';
import type { ServiceSpec, TargetState } from '../../protocol/target-state.js';
import type { Issue } from '../../protocol/validate.js';

export const HEALTH_MIN_LABEL = 'io.skiff.health.min';
export const HEALTH_DEADLINE_LABEL = 'io.skiff.health.deadline';
/** A release that declares a threshold but no deadline gets this long. */
export const DEFAULT_DEADLINE_SECONDS = 600;
/** A week: a deadline beyond it would keep a bad release on a device for longer than anyone would wait. */
export const MAX_DEADLINE_SECONDS = 7 * 24 * 3600;

export interface HealthDeclaration {
  /** The threshold the service's reported value must reach; null: it reports nothing the release judges. */
  min: number | null;
  deadlineSeconds: number | null;
}

function minOf(raw: string | undefined): number | null {
  if (raw === undefined || raw.trim() === '') return null;
  const value = Number(raw);
  return Number.isFinite(value) ? value : null;
}

function deadlineOf(raw: string | undefined): number | null {
  if (raw === undefined) return null;
  try {
    const seconds = durationSeconds(raw, []);
    return seconds > 0 && seconds <= MAX_DEADLINE_SECONDS ? seconds : null;
  } catch {
    return null;
  }
}

/** The service's declaration; a malformed label counts as absent (the gate refuses such a target before here). */
export function declarationOf(spec: ServiceSpec): HealthDeclaration {
  return { min: minOf(spec.labels[HEALTH_MIN_LABEL]), deadlineSeconds: deadlineOf(spec.labels[HEALTH_DEADLINE_LABEL]) };
}

/** Seconds the target's release has to become healthy; null when none of its services declares health. */
export function watchDeadlineSeconds(target: TargetState): number | null {
  if (target.release === null) return null;
  const declared = target.services.map(declarationOf).filter((d) => d.min !== null || d.deadlineSeconds !== null);
  if (declared.length === 0) return null;
  return Math.max(...declared.map((d) => d.deadlineSeconds ?? DEFAULT_DEADLINE_SECONDS));
}

/** A label's value as an error message shows it: quoted and cut, whatever the release put there. */
function shown(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value);
}

/** What is wrong with the services' health labels, as target validation issues. */
export function healthLabelIssues(target: TargetState): Issue[] {
  const issues: Issue[] = [];
  target.services.forEach((s, i) => {
    const at = `/services/${i}/labels`;
    const min = s.labels[HEALTH_MIN_LABEL];
    if (min !== undefined && minOf(min) === null) {
      issues.push({ path: `${at}/${HEALTH_MIN_LABEL}`, message: `${shown(min)} is not a number (write e.g. 0.9)` });
    }
    const deadline = s.labels[HEALTH_DEADLINE_LABEL];
    if (deadline !== undefined && deadlineOf(deadline) === null) {
      issues.push({
        path: `${at}/${HEALTH_DEADLINE_LABEL}`,
        message: `${shown(deadline)} is not a duration above 0 and up to a week (write e.g. 90s, 10m, 1h)`,
      });
    }
  });
  return issues;
}

// The device's own application rollback as a state machine, pure: which state may follow which (TRANSITIONS, the
// one table) and what each event does to the record. The record is persisted on entry to every state, so a power
// cut anywhere resumes right: a watch goes on against its absolute deadline, a rollback under way is finished.
//   watching      the target's release runs (or is being applied) and is judged until its deadline
//   kept          the release passed (or declares nothing to judge): it is the device's last good release
//   rolling-back  the release failed; the device runs its last good release instead, until that converged
//   rolled-back   done; the failed release is not tried again while the target names it
import { Type, type Static } from '@sinclair/typebox';
import type { TargetState } from '../../protocol/target-state.js';
import type { Verdict } from './judgement.js';

export const APP_RELEASE_STATES = ['watching', 'kept', 'rolling-back', 'rolled-back'] as const;
export type AppReleaseState = (typeof APP_RELEASE_STATES)[number];

export const AppReleaseRecordSchema = Type.Object(
  {
    state: Type.Union(APP_RELEASE_STATES.map((s) => Type.Literal(s))),
    /** The release the record is about: watched, kept, or given up on. */
    releaseId: Type.String({ minLength: 1, maxLength: 128 }),
    /** When the device began to watch it. */
    since: Type.String({ format: 'date-time' }),
    /** How long the release has once the device began to apply it; null for a release that declares no health. */
    deadlineSeconds: Type.Union([Type.Number({ minimum: 0 }), Type.Null()]),
    /**
     * When the release must be healthy: set when the device begins to apply it, not when the target arrives (a
     * release waiting for its update window or data budget must not run out of time unapplied).
     */
    deadlineAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    /** Rolling back or rolled back: the release the device went back to (null: it had no good one). */
    toReleaseId: Type.Union([Type.String({ minLength: 1, maxLength: 128 }), Type.Null()]),
    reason: Type.Union([Type.String({ maxLength: 2048 }), Type.Null()]),
    /** When the rollback was decided. */
    at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type AppReleaseRecord = Static<typeof AppReleaseRecordSchema>;

/**
 * Every state a record may enter from each state. A target naming another release starts a new watch (or keeps
 * it at once when it declares no health) from any state; a watch ends kept or rolling back; a rollback ends when
 * the good release converged. next() refuses anything else, so a new event must be added here first.
 */
export const TRANSITIONS: Readonly<Record<AppReleaseState, readonly AppReleaseState[]>> = {
  watching: ['watching', 'kept', 'rolling-back'],
  kept: ['watching', 'kept'],
  'rolling-back': ['watching', 'kept', 'rolled-back'],
  'rolled-back': ['watching', 'kept'],
};

export type AppReleaseEvent =
  /** The fleet's target names this release; deadlineSeconds null: it declares no health to judge. */
  | { kind: 'target'; releaseId: string; deadlineSeconds: number | null }
  /** The watched release as judged now; goodReleaseId: the last good release to go back to (null: none). */
  | { kind: 'verdict'; verdict: Verdict; goodReleaseId: string | null }
  /** The device began to apply the target's release (or already runs it): the watched release's deadline runs. */
  | { kind: 'applying' }
  /** The device converged to what it should run now. */
  | { kind: 'converged' };

function enter(record: AppReleaseRecord | null, next: AppReleaseRecord): AppReleaseRecord {
  if (record !== null && !TRANSITIONS[record.state].includes(next.state)) {
    throw new Error(
      `application rollback of release ${record.releaseId}: no transition from ${record.state} to ${next.state}`,
    );
  }
  return next;
}

function fresh(releaseId: string, deadlineSeconds: number | null, now: Date): AppReleaseRecord {
  return {
    state: deadlineSeconds === null ? 'kept' : 'watching',
    releaseId,
    since: now.toISOString(),
    deadlineSeconds,
    deadlineAt: null,
    toReleaseId: null,
    reason: null,
    at: null,
  };
}

/**
 * The record after `event` at `now`; the same object when nothing changes (the caller persists only a change).
 * A release given up on stays given up on while the target names it: only another release (and back) clears it.
 */
export function next(record: AppReleaseRecord | null, event: AppReleaseEvent, now: Date): AppReleaseRecord | null {
  switch (event.kind) {
    case 'target':
      if (record !== null && record.releaseId === event.releaseId) return record;
      return enter(record, fresh(event.releaseId, event.deadlineSeconds, now));
    case 'applying':
      if (record === null || record.state !== 'watching' || record.deadlineAt !== null) return record;
      return enter(record, {
        ...record,
        deadlineAt: new Date(now.getTime() + (record.deadlineSeconds ?? 0) * 1000).toISOString(),
      });
    case 'verdict': {
      if (record === null || record.state !== 'watching') return record;
      const { verdict } = event;
      const pastDeadline = record.deadlineAt !== null && now.getTime() >= Date.parse(record.deadlineAt);
      if (verdict.kind === 'failed' || (verdict.kind === 'not-yet' && pastDeadline)) {
        const reason =
          verdict.kind === 'failed'
            ? verdict.reason
            : `not healthy within its deadline of ${record.deadlineSeconds ?? 0} s: ${verdict.reason}`;
        return enter(record, {
          ...record,
          state: 'rolling-back',
          toReleaseId: event.goodReleaseId,
          reason,
          at: now.toISOString(),
        });
      }
      // Healthy before the deadline is not yet good: a release that crashes a minute in must still be caught.
      if (verdict.kind === 'healthy' && pastDeadline) return enter(record, { ...record, state: 'kept' });
      return record;
    }
    case 'converged':
      if (record === null || record.state !== 'rolling-back') return record;
      return enter(record, { ...record, state: 'rolled-back' });
  }
}

/** Whether the device must run its last good release instead of the one its target names. */
export function refuses(record: AppReleaseRecord | null, targetReleaseId: string | null): boolean {
  return (
    record !== null &&
    (record.state === 'rolling-back' || record.state === 'rolled-back') &&
    record.releaseId === targetReleaseId &&
    record.toReleaseId !== null
  );
}

/**
 * What the device runs for the fleet's `target`: the target itself, or, while its release is given up on, the last
 * good release's services, volumes and networks under the target's current config (config vars, window, caps).
 */
export function effectiveTarget(
  target: TargetState,
  record: AppReleaseRecord | null,
  good: TargetState | null,
): TargetState {
  if (good === null || !refuses(record, target.release?.id ?? null)) return target;
  // The target's own definitions belong to the release given up on: only the good release's count.
  const { networkDefinitions: _networks, volumeDefinitions: _volumes, ...rest } = target;
  return {
    ...rest,
    release: good.release,
    services: good.services,
    volumes: good.volumes,
    networks: good.networks,
    ...(good.networkDefinitions === undefined ? {} : { networkDefinitions: good.networkDefinitions }),
    ...(good.volumeDefinitions === undefined ? {} : { volumeDefinitions: good.volumeDefinitions }),
  };
}

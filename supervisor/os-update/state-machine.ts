// The host OS update as a state machine, pure: which state may follow which (TRANSITIONS, the one table), what a
// power cut in each state means when the device comes back, and the loop guard. The record is persisted on entry to
// every state (Mender's model), so after any power loss the updater knows the step it was in and, from the slot it
// booted, whether that step finished. os-updater.ts does each state's work and asks enter() for the next record.
import { Type, type Static } from '@sinclair/typebox';
import { HostOsReleaseSchema, type HostOsRelease } from '../../protocol/target-state.js';

export const OS_UPDATE_STEPS = [
  'download',
  'verify',
  'install',
  'reboot',
  'verify-boot',
  'commit',
  'rollback',
  'rollback-reboot',
] as const;
export type OsUpdateStep = (typeof OS_UPDATE_STEPS)[number];
export type OsUpdateEnd = 'committed' | 'failed';
export type OsUpdatePhase = OsUpdateStep | OsUpdateEnd;

/** More state entries than this in one update means something loops (a reboot that never takes, say). */
export const MAX_STATE_ENTRIES = 30;

export const OsUpdateRecordSchema = Type.Object(
  {
    release: HostOsReleaseSchema,
    state: Type.Union([
      Type.Literal('download'),
      Type.Literal('verify'),
      Type.Literal('install'),
      Type.Literal('reboot'),
      Type.Literal('verify-boot'),
      Type.Literal('commit'),
      Type.Literal('rollback'),
      Type.Literal('rollback-reboot'),
      Type.Literal('committed'),
      Type.Literal('failed'),
    ]),
    /** The slot booted when the update began: where a rollback returns to. */
    fromSlot: Type.String({ minLength: 1 }),
    /** The slot the bundle is written to (the inactive one). */
    toSlot: Type.String({ minLength: 1 }),
    /** State entries so far: the loop guard's counter. */
    entries: Type.Integer({ minimum: 0 }),
    /** Why the update failed or was rolled back. */
    error: Type.Union([Type.String(), Type.Null()]),
    /** True once the device went back to fromSlot after having installed to toSlot. */
    rolledBack: Type.Boolean(),
    startedAt: Type.String(),
    updatedAt: Type.String(),
  },
  { additionalProperties: false },
);
export type OsUpdateRecord = Static<typeof OsUpdateRecordSchema>;

export function isFinal(state: OsUpdatePhase): state is OsUpdateEnd {
  return state === 'committed' || state === 'failed';
}

/**
 * Every state an update may enter from each step: by the step's own outcome, or by resumeState() after a power cut
 * or reboot (re-entering the state it was in is always allowed: the step was cut short and runs again). The loop
 * guard may also end any step in `rollback` or `failed`. enter() refuses anything else, so a new step or outcome
 * must be added here first.
 */
export const TRANSITIONS: Readonly<Record<OsUpdateStep, readonly OsUpdatePhase[]>> = {
  download: ['verify', 'verify-boot'],
  verify: ['install', 'failed', 'verify-boot'],
  install: ['reboot', 'failed', 'verify-boot'],
  reboot: ['verify-boot', 'failed'],
  'verify-boot': ['commit', 'rollback', 'failed'],
  commit: ['committed', 'rollback', 'failed'],
  rollback: ['rollback-reboot', 'failed'],
  'rollback-reboot': ['rollback', 'failed'],
};

export function canEnter(from: OsUpdatePhase, to: OsUpdatePhase): boolean {
  if (isFinal(from)) return false;
  return from === to || TRANSITIONS[from].includes(to);
}

/** States after which the new slot may be primary: leaving the update from here needs a rollback. */
function pastInstall(state: OsUpdatePhase): boolean {
  return state === 'reboot' || state === 'verify-boot' || state === 'commit';
}

export function begin(release: HostOsRelease, bootedSlot: string, otherSlot: string, now: Date): OsUpdateRecord {
  return {
    release,
    state: 'download',
    fromSlot: bootedSlot,
    toSlot: otherSlot,
    entries: 1,
    error: null,
    rolledBack: false,
    startedAt: now.toISOString(),
    updatedAt: now.toISOString(),
  };
}

/**
 * The record on entry to `state`. The loop guard turns the entry that exceeds the limit into a rollback (once the
 * new slot may be primary) or a failure, so a device can never cycle forever.
 */
export function enter(
  record: OsUpdateRecord,
  state: OsUpdatePhase,
  now: Date,
  error: string | null = record.error,
): OsUpdateRecord {
  if (!canEnter(record.state, state)) {
    throw new Error(`OS update ${record.release.version}: no transition from ${record.state} to ${state}`);
  }
  const entries = record.entries + 1;
  let next: OsUpdateRecord = { ...record, state, entries, error, updatedAt: now.toISOString() };
  if (entries > MAX_STATE_ENTRIES && !isFinal(state)) {
    const reason = `loop guard: ${entries} state entries in one OS update (last: ${record.state} -> ${state})`;
    next =
      pastInstall(record.state) || pastInstall(state)
        ? { ...next, state: 'rollback', error: reason }
        : { ...next, state: 'failed', error: reason };
    if (record.state === 'rollback' || record.state === 'rollback-reboot') next = { ...next, state: 'failed' };
  }
  if (next.state === 'failed' && (record.state === 'rollback-reboot' || record.state === 'rollback')) {
    next = { ...next, rolledBack: true };
  }
  return next;
}

export interface BootFacts {
  /** The slot the device booted now. */
  booted: string;
  /** The slot the bootloader would boot next. */
  primary: string;
}

/**
 * Where a persisted, unfinished update continues after the supervisor starts again (a power cut, a crash or the
 * reboot the update asked for). The booted slot tells how far things got: running toSlot means the install
 * finished and the bootloader took it; running fromSlot after the reboot means the bootloader gave the new slot up.
 */
export function resumeState(
  record: OsUpdateRecord,
  boot: BootFacts,
): { state: OsUpdatePhase; error: string | null; rolledBack: boolean } {
  const onNew = boot.booted === record.toSlot;
  const keep = { error: record.error, rolledBack: record.rolledBack };
  const fellBack = (when: string) => ({
    state: 'failed' as const,
    error: `the device came back on slot ${boot.booted} ${when}: the bootloader fell back, the new OS ${record.release.version} is not used`,
    rolledBack: true,
  });
  switch (record.state) {
    case 'download':
    case 'verify':
    case 'install':
      // The bootloader only boots toSlot once RAUC finished writing it and made it primary.
      return onNew ? { state: 'verify-boot', ...keep } : { state: record.state, ...keep };
    case 'reboot':
      if (onNew) return { state: 'verify-boot', ...keep };
      // Still primary: the reboot never happened (power cut before it). Otherwise the new slot did not boot.
      return boot.primary === record.toSlot ? { state: 'reboot', ...keep } : fellBack('after the reboot');
    case 'verify-boot':
    case 'commit':
      return onNew
        ? { state: record.state, ...keep }
        : fellBack(`before the update was committed (in ${record.state})`);
    case 'rollback':
    case 'rollback-reboot':
      return onNew ? { state: 'rollback', ...keep } : { state: 'failed', error: record.error, rolledBack: true };
    case 'committed':
    case 'failed':
      return { state: record.state, ...keep };
  }
}

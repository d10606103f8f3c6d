// A rollout as a state machine, pure: every event that may happen to a rollout (an operator's pause, resume, abort
// or emergency stop; the driver's judgement that a phase passed or failed), which rollout states it applies in,
// the state it leads to and what it does to the current phase, all in TRANSITIONS, the one table. The store
// persists the result of each step with a conditional update (store.ts), so an event applied to a rollout
// that moved on meanwhile (another API instance, another operator) is refused rather than applied twice.
import type { PhaseState, RolloutState } from '../../protocol/rollouts.js';

export type RolloutEvent =
  /** An operator pauses: no more devices are assigned until resumed; what was assigned stays. */
  | 'pause'
  | 'resume'
  /** The current phase passed and a next one begins. */
  | 'advance'
  /** The last phase passed. */
  | 'complete'
  /** The current phase failed (above the failure threshold, or its deadline passed): the rollout stops itself. */
  | 'halt'
  /** As halt, and the phase's devices go back to the release they had (rollbackOnHalt). */
  | 'halt-rollback'
  /** A fleet-wide emergency stop: nothing more is assigned; the phase is left as it is for a person to judge. */
  | 'stop'
  /** An operator gives up: the current phase's devices go back to the release they had. */
  | 'abort';

export interface Transition {
  /** The rollout states the event applies in. */
  from: readonly RolloutState[];
  to: RolloutState;
  /** What becomes of the current phase; null: it stays as it is. */
  phase: PhaseState | null;
  /** Whether the current phase's devices go back to their previous release. */
  rollsBack: boolean;
  /** Whether the phase after the current one starts. */
  startsNext: boolean;
}

export const TRANSITIONS: Readonly<Record<RolloutEvent, Transition>> = {
  pause: { from: ['running'], to: 'paused', phase: null, rollsBack: false, startsNext: false },
  resume: { from: ['paused'], to: 'running', phase: null, rollsBack: false, startsNext: false },
  advance: { from: ['running'], to: 'running', phase: 'passed', rollsBack: false, startsNext: true },
  complete: { from: ['running'], to: 'completed', phase: 'passed', rollsBack: false, startsNext: false },
  halt: { from: ['running'], to: 'halted', phase: 'failed', rollsBack: false, startsNext: false },
  'halt-rollback': { from: ['running'], to: 'halted', phase: 'rolled-back', rollsBack: true, startsNext: false },
  stop: { from: ['running', 'paused'], to: 'halted', phase: null, rollsBack: false, startsNext: false },
  abort: {
    from: ['running', 'paused', 'halted'],
    to: 'aborted',
    phase: 'rolled-back',
    rollsBack: true,
    startsNext: false,
  },
};

/** Which phase state may follow which; final states have none. */
export const PHASE_TRANSITIONS: Readonly<Record<PhaseState, readonly PhaseState[]>> = {
  waiting: ['running', 'skipped'],
  running: ['passed', 'failed', 'rolled-back'],
  // A failed phase is rolled back when the halted rollout is aborted.
  failed: ['rolled-back'],
  passed: [],
  'rolled-back': [],
  skipped: [],
};

export function isFinal(state: RolloutState): boolean {
  return state === 'completed' || state === 'aborted';
}

/** Why `event` cannot happen to a rollout in `state`, or null when it can. */
export function refusalOf(event: RolloutEvent, state: RolloutState): string | null {
  const transition = TRANSITIONS[event];
  if (transition.from.includes(state)) return null;
  return `a rollout that is ${state} cannot ${event}; ${event} applies to a rollout that is ${transition.from.join(' or ')}`;
}

export interface PhaseStep {
  state: PhaseState;
  startedAt: string | null;
  endedAt: string | null;
}

export interface MachineState<P extends PhaseStep = PhaseStep> {
  state: RolloutState;
  /** The current phase's index. */
  phase: number;
  phases: readonly P[];
}

/**
 * The rollout after `event` at `now`; throws (naming the event and state) when the table has no such transition.
 * Phases not reached when the rollout ends (completed, aborted) are skipped.
 */
export function step<P extends PhaseStep>(machine: MachineState<P>, event: RolloutEvent, now: Date): MachineState<P> {
  const refusal = refusalOf(event, machine.state);
  if (refusal !== null) throw new Error(refusal);
  const transition = TRANSITIONS[event];
  const at = now.toISOString();
  const phases: P[] = machine.phases.map((phase) => ({ ...phase }));
  const current = phases[machine.phase];
  if (current === undefined) throw new Error(`the rollout has no phase ${machine.phase + 1}`);
  if (transition.phase !== null && transition.phase !== current.state) {
    if (!PHASE_TRANSITIONS[current.state].includes(transition.phase))
      throw new Error(`phase ${machine.phase + 1} cannot go from ${current.state} to ${transition.phase} (${event})`);
    current.state = transition.phase;
    current.endedAt = at;
  }
  let index = machine.phase;
  if (transition.startsNext) {
    const next = phases[index + 1];
    if (next === undefined) throw new Error(`${event} after the last phase: the rollout completes instead`);
    next.state = 'running';
    next.startedAt = at;
    index += 1;
  }
  if (isFinal(transition.to)) {
    for (const phase of phases) {
      if (phase.state === 'waiting') {
        phase.state = 'skipped';
        phase.endedAt = at;
      }
    }
  }
  return { state: transition.to, phase: index, phases };
}

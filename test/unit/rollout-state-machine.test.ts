import assert from 'node:assert/strict';
import { ROLLOUT_STATES, type PhaseState, type RolloutState } from '../../protocol/rollouts.js';
import {
  PHASE_TRANSITIONS,
  refusalOf,
  step,
  TRANSITIONS,
  type MachineState,
  type RolloutEvent,
} from '../../registry-api/rollouts/state-machine.js';

const t = new Date('2026-01-01T00:00:00Z');

function rollout(
  state: RolloutState = 'running',
  phaseStates: readonly PhaseState[] = ['running', 'waiting', 'waiting'],
): MachineState {
  return {
    state,
    phase: 0,
    phases: phaseStates.map((s, i) => ({ state: s, startedAt: i === 0 ? t.toISOString() : null, endedAt: null })),
  };
}

describe('rollout state machine', () => {
  it('one table holds every event; completed and aborted rollouts take none', () => {
    for (const [event, transition] of Object.entries(TRANSITIONS)) {
      for (const state of ROLLOUT_STATES) {
        const refused = refusalOf(event as RolloutEvent, state);
        assert.equal(refused === null, transition.from.includes(state), `${event} from ${state}`);
      }
      assert.ok(!transition.from.includes('completed') && !transition.from.includes('aborted'), event);
    }
    // Every phase state an event leads to is reachable from running in the phase table.
    for (const transition of Object.values(TRANSITIONS)) {
      if (transition.phase !== null) assert.ok(PHASE_TRANSITIONS.running.includes(transition.phase));
    }
  });

  it('advances phase by phase and completes after the last, skipping nothing', () => {
    let machine = step(rollout(), 'advance', t);
    assert.equal(machine.phase, 1);
    assert.deepEqual(
      machine.phases.map((p) => p.state),
      ['passed', 'running', 'waiting'],
    );
    machine = step(step(machine, 'advance', t), 'complete', t);
    assert.equal(machine.state, 'completed');
    assert.deepEqual(
      machine.phases.map((p) => p.state),
      ['passed', 'passed', 'passed'],
    );
    const atLast = { ...rollout('running', ['passed', 'passed', 'running']), phase: 2 };
    assert.throws(() => step(atLast, 'advance', t), /after the last phase/);
  });

  it('halts with or without rolling the phase back; an abort of a halted rollout rolls it back and skips the rest', () => {
    const halted = step(rollout(), 'halt', t);
    assert.equal(halted.state, 'halted');
    assert.equal(halted.phases[0]?.state, 'failed');
    const aborted = step(halted, 'abort', t);
    assert.equal(aborted.state, 'aborted');
    assert.deepEqual(
      aborted.phases.map((p) => p.state),
      ['rolled-back', 'skipped', 'skipped'],
    );
    const rolledBack = step(rollout(), 'halt-rollback', t);
    assert.equal(rolledBack.phases[0]?.state, 'rolled-back');
    assert.equal(step(rolledBack, 'abort', t).phases[0]?.state, 'rolled-back');
  });

  it('pauses and resumes; an emergency stop halts a running or paused rollout and leaves its phase alone', () => {
    const paused = step(rollout(), 'pause', t);
    assert.equal(paused.state, 'paused');
    assert.equal(step(paused, 'resume', t).state, 'running');
    const stopped = step(paused, 'stop', t);
    assert.equal(stopped.state, 'halted');
    assert.equal(stopped.phases[0]?.state, 'running');
    assert.throws(
      () => step(stopped, 'resume', t),
      /a rollout that is halted cannot resume; resume applies to a rollout that is paused/,
    );
    assert.throws(() => step(paused, 'advance', t), /cannot advance/);
    assert.throws(() => step(step(rollout(), 'abort', t), 'abort', t), /a rollout that is aborted cannot abort/);
  });
});

import assert from 'node:assert/strict';
import {
  begin,
  canEnter,
  enter,
  OS_UPDATE_STEPS,
  MAX_STATE_ENTRIES,
  resumeState,
  type OsUpdateRecord,
} from '../../supervisor/os-update/state-machine.js';

const release = { version: '2.0.0', digest: `sha256:${'a'.repeat(64)}`, size: 10, url: 'os/2.0.0.raucb' };
const t = new Date('2025-01-01T00:00:00Z');

function at(state: OsUpdateRecord['state']): OsUpdateRecord {
  return { ...begin(release, 'A', 'B', t), state };
}

describe('OS update state machine', () => {
  it('one table holds the transitions: whatever resumeState() picks is in it, and a jump outside it is refused', () => {
    for (const state of OS_UPDATE_STEPS) {
      for (const booted of ['A', 'B']) {
        for (const primary of ['A', 'B']) {
          const resumed = resumeState(at(state), { booted, primary }).state;
          assert.ok(canEnter(state, resumed), `${state} -> ${resumed} (booted ${booted}, primary ${primary})`);
        }
      }
    }
    assert.throws(() => enter(at('download'), 'commit', t), /no transition from download to commit/);
    assert.throws(() => enter(at('failed'), 'download', t), /no transition from failed to download/);
  });

  it('counts state entries and keeps the error unless told otherwise', () => {
    const r = enter(enter(begin(release, 'A', 'B', t), 'verify', t), 'failed', t, 'bundle refused: x');
    assert.equal(r.entries, 3);
    assert.equal(r.state, 'failed');
    assert.equal(r.error, 'bundle refused: x');
    assert.equal(r.rolledBack, false);
  });

  it('loop guard: too many entries before the install fails the update; after it, rolls back', () => {
    const early = enter({ ...at('download'), entries: MAX_STATE_ENTRIES }, 'download', t);
    assert.equal(early.state, 'failed');
    assert.match(early.error ?? '', /loop guard: 31 state entries/);
    const late = enter({ ...at('reboot'), entries: MAX_STATE_ENTRIES }, 'reboot', t);
    assert.equal(late.state, 'rollback');
    const inRollback = enter({ ...at('rollback-reboot'), entries: MAX_STATE_ENTRIES }, 'rollback', t);
    assert.equal(inRollback.state, 'failed');
    assert.equal(inRollback.rolledBack, true);
  });

  it('resumes a step before the reboot where it was, unless the bootloader already runs the new slot', () => {
    for (const state of ['download', 'verify', 'install'] as const) {
      assert.equal(resumeState(at(state), { booted: 'A', primary: 'A' }).state, state);
    }
    assert.equal(resumeState(at('install'), { booted: 'B', primary: 'B' }).state, 'verify-boot');
  });

  it('after a cut in reboot: reboots again while the new slot is primary (tryboot not armed), else it fell back', () => {
    assert.equal(resumeState(at('reboot'), { booted: 'A', primary: 'B' }).state, 'reboot');
    assert.equal(resumeState(at('reboot'), { booted: 'B', primary: 'B' }).state, 'verify-boot');
    const fell = resumeState(at('reboot'), { booted: 'A', primary: 'A' });
    assert.equal(fell.state, 'failed');
    assert.equal(fell.rolledBack, true);
    assert.match(fell.error ?? '', /came back on slot A after the reboot: the bootloader fell back/);
  });

  it('verify-boot and commit continue on the new slot; back on the old one the update is over', () => {
    for (const state of ['verify-boot', 'commit'] as const) {
      assert.equal(resumeState(at(state), { booted: 'B', primary: 'B' }).state, state);
      assert.equal(resumeState(at(state), { booted: 'A', primary: 'A' }).state, 'failed');
    }
  });

  it('a rollback finishes on the old slot and is redone on the new one', () => {
    const record = { ...at('rollback-reboot'), error: 'health check failed' };
    assert.deepEqual(resumeState(record, { booted: 'A', primary: 'A' }), {
      state: 'failed',
      error: 'health check failed',
      rolledBack: true,
    });
    assert.equal(resumeState(record, { booted: 'B', primary: 'A' }).state, 'rollback');
  });
});

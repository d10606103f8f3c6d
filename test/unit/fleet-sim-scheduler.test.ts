// The simulated fleet's one-timer scheduler: entries run in due order (ties in the order scheduled), an entry due
// before the armed timer re-arms it, and stop() drops everything pending.
import assert from 'node:assert/strict';
import { Scheduler } from '../../harness/fleet-sim/scheduler.js';
import { checkBehaviour, DEFAULT_BEHAVIOUR, fixedDraw } from '../../harness/fleet-sim/behaviour.js';

const tick = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('fleet simulator: scheduler and behaviour', () => {
  it('runs entries in due order, ties in the order they were scheduled', async () => {
    const scheduler = new Scheduler();
    const ran: string[] = [];
    const now = Date.now();
    scheduler.at(now + 40, () => ran.push('c'));
    scheduler.at(now + 10, () => ran.push('a1'));
    scheduler.at(now + 10, () => ran.push('a2'));
    // Earlier than the armed timer: it must not wait for the later one.
    scheduler.at(now, () => ran.push('first'));
    for (let i = 0; i < 200; i++) scheduler.at(now + 20 + (i % 7), () => ran.push('b'));
    while (ran.length < 204) await tick(10);
    assert.deepEqual(ran.slice(0, 3), ['first', 'a1', 'a2']);
    assert.equal(ran.at(-1), 'c');
    assert.equal(scheduler.size, 0);
  });

  it('runs nothing after stop', async () => {
    const scheduler = new Scheduler();
    let ran = 0;
    scheduler.after(5, () => ran++);
    scheduler.stop();
    scheduler.after(1, () => ran++);
    await tick(30);
    assert.equal(ran, 0);
  });

  it('draws the same fraction for the same device and release, and refuses impossible behaviour', () => {
    assert.equal(fixedDraw('device-a', 'release-1'), fixedDraw('device-a', 'release-1'));
    assert.notEqual(fixedDraw('device-a', 'release-1'), fixedDraw('device-a', 'release-2'));
    const draws = Array.from({ length: 1000 }, (_, i) => fixedDraw(`d${i}`, 'r'));
    const share = draws.filter((d) => d < 0.1).length / draws.length;
    assert.ok(share > 0.06 && share < 0.14, `about a tenth draw below 0.1, got ${share}`);
    assert.throws(() => checkBehaviour({ ...DEFAULT_BEHAVIOUR, failureRate: 1.5 }), /failureRate must be within 0..1/);
    assert.throws(() => checkBehaviour({ ...DEFAULT_BEHAVIOUR, pollIntervalMs: 0 }), /pollIntervalMs must be > 0/);
  });
});

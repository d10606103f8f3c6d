import assert from 'node:assert/strict';
import { backoffDelay, withJitter } from '../../lib/backoff.js';
import { Wakeup } from '../../supervisor/device/wakeup.js';

describe('backoff', () => {
  it('doubles from the initial delay up to the cap', () => {
    const policy = { initialMs: 1_000, maxMs: 10_000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 50].map((n) => backoffDelay(n, policy)),
      [1_000, 2_000, 4_000, 8_000, 10_000, 10_000],
    );
  });

  it('jitters within the fraction', () => {
    assert.equal(
      withJitter(1_000, 0.1, () => 0),
      900,
    );
    assert.equal(
      withJitter(1_000, 0.1, () => 1),
      1_100,
    );
    assert.equal(
      withJitter(1_000, 0.1, () => 0.5),
      1_000,
    );
  });
});

describe('wakeup', () => {
  it('ends a wait early, and keeps a wake that came while nobody waited', async () => {
    const wakeup = new Wakeup();
    const started = Date.now();
    const waiting = wakeup.wait(10_000);
    wakeup.wake();
    await waiting;
    wakeup.wake();
    await wakeup.wait(10_000);
    assert.ok(Date.now() - started < 1_000);
    const timed = Date.now();
    await wakeup.wait(50);
    assert.ok(Date.now() - timed >= 45);
  });
});

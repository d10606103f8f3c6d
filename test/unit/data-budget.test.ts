// The monthly data budget as the planner applies it: an update that does not fit what the month has left (with the
// essentials' share kept back) is deferred whole to the next month, saying why; thinning follows the share used.
import assert from 'node:assert/strict';
import { planUpdate } from '../../supervisor/plan/planner.js';
import { budgetVerdict, ESSENTIALS_SHARE, nextMonthStart, thinningOf } from '../../supervisor/plan/data-budget.js';
import type { DiskFacts } from '../../supervisor/plan/disk-space.js';
import { fakeImage, serviceSpec, targetState } from '../../harness/supervisor-targets.js';
import type { CurrentState } from '../../supervisor/plan/observed.js';

const MB = 1_000_000;
const now = new Date('2026-12-07T03:00:00Z');

describe('data budget', () => {
  it('lets a download through that fits what is left after the essentials, and defers one that does not', () => {
    const facts = { budgetBytes: 100 * MB, usedBytes: 30 * MB };
    const left = 100 * MB * (1 - ESSENTIALS_SHARE) - 30 * MB;
    assert.deepEqual(budgetVerdict(left, facts, now), { kind: 'fits' });
    const verdict = budgetVerdict(left + 1, facts, now);
    assert.equal(verdict.kind, 'deferred');
    assert.ok(verdict.kind === 'deferred');
    assert.equal(verdict.until.toISOString(), '2027-01-01T00:00:00.000Z');
    assert.equal(verdict.leftBytes, left);
    assert.match(
      verdict.message,
      /^deferred to 2027-01-01T00:00:00.000Z by the data budget: the update downloads 60.0 MB/,
    );
    assert.match(verdict.message, /60.0 MB of this month's 100.0 MB is left for downloads/);
    assert.deepEqual(budgetVerdict(0, { budgetBytes: 1, usedBytes: 5 }, now), { kind: 'fits' }, 'nothing to download');
  });

  it('starts afresh on the first of the next month, UTC, across a year', () => {
    assert.equal(nextMonthStart(new Date('2026-01-31T23:59:59Z')).toISOString(), '2026-02-01T00:00:00.000Z');
    assert.equal(nextMonthStart(new Date('2026-12-31T23:59:59Z')).toISOString(), '2027-01-01T00:00:00.000Z');
  });

  it('thins the device own traffic from 80% of the budget, and keeps only essentials once it is spent', () => {
    assert.equal(thinningOf(undefined), 'normal');
    assert.equal(thinningOf({ budgetBytes: 100, usedBytes: 79 }), 'normal');
    assert.equal(thinningOf({ budgetBytes: 100, usedBytes: 80 }), 'thin');
    assert.equal(thinningOf({ budgetBytes: 100, usedBytes: 100 }), 'essential');
  });

  it('makes the planner defer a whole release that does not fit, before any step, and plan it once it does', () => {
    const image = fakeImage('a', 'a1');
    const target = targetState([serviceSpec('a', image)], { releaseId: 'r1' });
    const current: CurrentState = { containers: [], images: [], networks: [], volumes: [] };
    const disk: DiskFacts = {
      path: '/var/lib/docker',
      freeBytes: 10_000 * MB,
      needs: { [image]: 3 * 40 * MB },
      unused: [],
      inUse: {},
      download: { path: '/data/blobs', freeBytes: 10_000 * MB, needs: { [image]: 40 * MB } },
    };
    const context = { locks: new Set<string>(), handovers: new Map<string, Date>(), now, disk };
    const deferred = planUpdate(current, target, { ...context, budget: { budgetBytes: 20 * MB, usedBytes: 0 } });
    assert.deepEqual(deferred.steps, []);
    assert.equal(deferred.error, null);
    assert.equal(deferred.deferred?.until.toISOString(), '2027-01-01T00:00:00.000Z');
    assert.match(
      deferred.deferred?.message ?? '',
      /the update downloads 40.0 MB, 18.0 MB of this month's 20.0 MB is left for downloads \(0 kB used, 2.0 MB kept/,
    );
    const planned = planUpdate(current, target, { ...context, budget: { budgetBytes: 100 * MB, usedBytes: 0 } });
    assert.equal(planned.deferred, undefined);
    assert.ok(planned.steps.some((s) => s.kind === 'fetchImage'));
    // Without the download directory's count, the engine's need is taken back to compressed bytes.
    const { download: _download, ...engineOnly } = disk;
    const alsoDeferred = planUpdate(current, target, {
      ...context,
      disk: engineOnly,
      budget: { budgetBytes: 20 * MB, usedBytes: 0 },
    });
    assert.match(alsoDeferred.deferred?.message ?? '', /the update downloads 40.0 MB/);
  });
});

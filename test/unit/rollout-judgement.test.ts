import assert from 'node:assert/strict';
import type { StateReport, ServiceReport } from '../../protocol/state-report.js';
import {
  allowance,
  judgeDevice,
  judgePhase,
  phaseSizes,
  tallyPhase,
  type PhaseDevice,
} from '../../registry-api/rollouts/judgement.js';

const RELEASE = 'rel-new';
const t0 = new Date('2026-01-01T00:00:00Z');
const later = (seconds: number): Date => new Date(t0.getTime() + seconds * 1000);

function service(overrides: Partial<ServiceReport> = {}): ServiceReport {
  return {
    name: 'reader',
    releaseId: RELEASE,
    image: 'registry/meters/reader@sha256:aa',
    containerId: 'c1',
    state: 'running',
    health: null,
    exitCode: null,
    ...overrides,
  };
}

function report(overrides: Partial<StateReport> = {}, svc: Partial<ServiceReport> = {}): StateReport {
  return {
    supervisorVersion: '1.0.0',
    updateStatus: 'converged',
    targetReleaseId: RELEASE,
    releaseId: RELEASE,
    services: [service(svc)],
    error: null,
    reportedAt: t0.toISOString(),
    ...overrides,
  };
}

describe('rollout judgement', () => {
  describe('a device', () => {
    const deadline = later(600);

    it('is healthy when it runs the release converged with every service running and well', () => {
      assert.deepEqual(judgeDevice(report(), RELEASE, deadline, later(10)), {
        outcome: 'healthy',
        updated: true,
        reason: null,
      });
      // A healthcheck that passes and an application that says it does its job are healthy too.
      const well = report(
        {},
        { health: 'healthy', appHealth: { ok: true, value: 0.99, detail: null, reportedAt: t0.toISOString() } },
      );
      assert.equal(judgeDevice(well, RELEASE, deadline, later(10)).outcome, 'healthy');
    });

    const unhealthy: [string, StateReport, RegExp][] = [
      ['another release', report({ releaseId: 'rel-old' }), /runs rel-old/],
      ['no report yet', report({ updateStatus: 'downloading' }), /update downloading/],
      ['a service exited', report({}, { state: 'exited' }), /reader is exited/],
      ['a failing healthcheck', report({}, { health: 'unhealthy' }), /reader is unhealthy/],
      ['a restart loop', report({}, { restartLoop: true }), /restart loop/],
      [
        'its application failing',
        report({}, { appHealth: { ok: false, value: 0.2, detail: 'few telegrams', reportedAt: t0.toISOString() } }),
        /application failing/,
      ],
      ['no service at all', report({ services: [] }), /runs no service/],
    ];
    for (const [what, sent, reason] of unhealthy) {
      it(`with ${what} is pending before its deadline and failed after it`, () => {
        const before = judgeDevice(sent, RELEASE, deadline, later(599));
        assert.equal(before.outcome, 'pending');
        assert.match(before.reason ?? '', reason);
        const after = judgeDevice(sent, RELEASE, deadline, later(600));
        assert.equal(after.outcome, 'failed');
        assert.match(after.reason ?? '', reason);
      });
    }

    it('that never reported fails at its deadline', () => {
      assert.equal(judgeDevice(null, RELEASE, deadline, later(1)).outcome, 'pending');
      assert.deepEqual(judgeDevice(null, RELEASE, deadline, later(601)), {
        outcome: 'failed',
        updated: false,
        reason: 'has not reported',
      });
    });

    it('that rolled the release back by itself has failed at once, whatever the deadline', () => {
      const rolledBack = report({ releaseId: 'rel-old' }, { releaseId: 'rel-old' });
      rolledBack.rollback = {
        fromReleaseId: RELEASE,
        toReleaseId: 'rel-old',
        reason: 'crash loop',
        at: t0.toISOString(),
      };
      const judged = judgeDevice(rolledBack, RELEASE, deadline, later(1));
      assert.equal(judged.outcome, 'failed');
      assert.match(judged.reason ?? '', /rolled the release back: crash loop/);
      // The device's words are repeated on one line and bounded, whatever it sent.
      rolledBack.rollback.reason = `crash\nloop ${'x'.repeat(5000)}`;
      const long = judgeDevice(rolledBack, RELEASE, deadline, later(1)).reason ?? '';
      assert.ok(long.length <= 230 && !long.includes('\n'), long);
      assert.match(long, /^rolled the release back: crash loop x+ \.\.\. \(\d+ more characters\)$/);
      // A rollback of another release is none of this rollout's business.
      rolledBack.rollback.fromReleaseId = 'rel-other';
      assert.equal(judgeDevice(rolledBack, RELEASE, deadline, later(1)).outcome, 'pending');
    });
  });

  describe('a phase', () => {
    const thresholds = { successPercent: 95, failurePercent: 5 };
    const counts = (healthy: number, failed: number, pending: number, devices = healthy + failed + pending) => ({
      devices,
      assigned: devices - pending,
      updated: healthy,
      healthy,
      failed,
      pending,
      rolledBack: 0,
    });

    it('passes at the success threshold once all its devices are assigned, and not before', () => {
      const verdict = judgePhase(counts(19, 0, 1), thresholds, true);
      assert.equal(verdict.kind, 'pass');
      assert.equal(judgePhase(counts(19, 0, 1), thresholds, false).kind, 'wait');
      assert.equal(judgePhase(counts(18, 0, 2), thresholds, true).kind, 'wait');
      if (verdict.kind === 'pass') assert.match(verdict.summary, /19 of 20 devices healthy \(95% >= 95%\)/);
    });

    it('halts above the failure threshold, even before all its devices are assigned, with its numbers', () => {
      assert.equal(judgePhase(counts(18, 1, 1), thresholds, true).kind, 'wait'); // 5% is not above 5%
      const verdict = judgePhase(counts(10, 2, 8), thresholds, false);
      assert.deepEqual(verdict, { kind: 'halt', summary: '2 of 20 devices failed (10% > 5%)' });
    });

    it('halts when its deadline passed without reaching the success threshold', () => {
      const verdict = judgePhase(counts(9, 1, 0), { successPercent: 95, failurePercent: 20 }, true);
      assert.equal(verdict.kind, 'halt');
      if (verdict.kind === 'halt')
        assert.match(verdict.summary, /deadline passed with 9 of 10 devices healthy \(90% < 95%\), 1 failed/);
    });

    it('with no device passes at once', () => {
      assert.equal(judgePhase(counts(0, 0, 0), thresholds, true).kind, 'pass');
    });

    it('is tallied from its rows and reports: rolled back, waiting, assigned and judged', () => {
      const devices: PhaseDevice[] = [
        { uuid: 'a', state: 'assigned', assignedAt: t0.toISOString() },
        { uuid: 'b', state: 'assigned', assignedAt: t0.toISOString() },
        { uuid: 'c', state: 'assigned', assignedAt: later(100).toISOString() },
        { uuid: 'd', state: 'pending', assignedAt: null },
        { uuid: 'e', state: 'rolled-back', assignedAt: t0.toISOString() },
      ];
      const reports = new Map<string, StateReport | null>([
        ['a', report()],
        ['b', report({}, { appHealth: { ok: false, value: null, detail: null, reportedAt: t0.toISOString() } })],
        ['c', null],
      ]);
      const { counts: tally, failures } = tallyPhase(devices, reports, RELEASE, 60, later(120));
      assert.deepEqual(tally, {
        devices: 5,
        assigned: 3,
        updated: 2,
        healthy: 1,
        failed: 1,
        pending: 2,
        rolledBack: 1,
      });
      assert.deepEqual(failures, [{ uuid: 'b', reason: 'service reader reports its application failing' }]);
    });
  });

  describe('phase sizes and the rate', () => {
    it('cuts cumulative percentages, at least one device a phase while there are devices', () => {
      assert.deepEqual(phaseSizes(200, [1, 10, 100]), [2, 18, 180]);
      assert.deepEqual(phaseSizes(2000, [1, 10, 50, 100]), [20, 180, 800, 1000]);
      assert.deepEqual(phaseSizes(5, [1, 10, 100]), [1, 0, 4]);
      // A last phase below 100% leaves the rest out.
      assert.deepEqual(phaseSizes(100, [10, 50]), [10, 40]);
      assert.deepEqual(phaseSizes(0, [1, 100]), [0, 0]);
    });

    it('lets devices in at the rate from the phase start, the first at once', () => {
      assert.equal(allowance(null, t0, t0, 0, 180), 180);
      assert.equal(allowance(60, t0, t0, 0, 180), 1);
      assert.equal(allowance(60, t0, later(30), 1, 179), 30);
      assert.equal(allowance(60, t0, later(30), 31, 149), 0);
      assert.equal(allowance(60, t0, later(600), 31, 149), 149);
    });
  });
});

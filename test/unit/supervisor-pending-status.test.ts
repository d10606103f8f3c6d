// A new target is reported for what it is from the moment the supervisor takes it: never with the verdict the last
// reconcile pass reached on the target before (e.g. "converged" with the old release while the new one waits).
import assert from 'node:assert/strict';
import { StateReportSchema } from '../../protocol/state-report.js';
import { check } from '../../protocol/validate.js';
import { createLogger } from '../../lib/logger.js';
import type { CurrentState, ObservedContainer } from '../../supervisor/plan/observed.js';
import { desiredState, imagesOf } from '../../supervisor/plan/desired-state.js';
import { dockerEngine } from '../../supervisor/engine/engine.js';
import { Reconciler, type ReconcileStatus } from '../../supervisor/reconcile/reconciler.js';
import { buildReport, pendingUpdateStatus } from '../../supervisor/online/reporter.js';
import type { TargetState } from '../../protocol/target-state.js';
import { fakeImage, serviceSpec, targetState } from '../../harness/supervisor-targets.js';

const imgA = fakeImage('a', 'a1');
const imgB1 = fakeImage('b', 'b1');
const imgB2 = fakeImage('b', 'b2');
const r1 = targetState([serviceSpec('a', imgA), serviceSpec('b', imgB1)], { releaseId: 'r1' });
const r2 = targetState([serviceSpec('a', imgA), serviceSpec('b', imgB2)], { releaseId: 'r2' });

function running(target: TargetState): ObservedContainer[] {
  return desiredState(target).containers.map((d) => ({
    id: `${d.service}-${target.release?.id ?? ''}`,
    name: d.name,
    service: d.service,
    releaseId: target.release?.id ?? null,
    configHash: d.configHash,
    image: d.image,
    state: 'running',
    health: null,
    exitCode: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    networks: d.networks,
    stopTimeoutSeconds: null,
  }));
}

/** The engine as a device that runs `runs` and holds `images` sees it. */
function engineState(runs: TargetState, images: string[]): CurrentState {
  return { containers: running(runs), images, networks: [], volumes: [] };
}

const PENDING: ReconcileStatus = { phase: 'pending', error: null, waiting: [] };

function reportOf(
  current: CurrentState,
  target: TargetState,
  status: ReconcileStatus,
  targetError: string | null = null,
) {
  const report = buildReport({
    current,
    target,
    status,
    targetError,
    supervisorVersion: '0.1.0',
    now: new Date('2026-02-03T04:05:06.000Z'),
  });
  assert.deepEqual(check(StateReportSchema, report), []);
  return report;
}

describe('status of a target no pass has judged yet', () => {
  it('is converged only when the device already runs it, else downloading while images are missing, else applying', () => {
    assert.equal(pendingUpdateStatus(true, false), 'converged');
    assert.equal(pendingUpdateStatus(false, true), 'downloading');
    assert.equal(pendingUpdateStatus(false, false), 'applying');
  });

  it('reports downloading for a new release whose images are not here, with the new target and no running release', () => {
    const report = reportOf(engineState(r1, imagesOf(r1)), r2, PENDING);
    assert.equal(report.updateStatus, 'downloading');
    assert.equal(report.targetReleaseId, 'r2');
    assert.equal(report.releaseId, null);
    assert.equal(report.error, null);
    assert.deepEqual(report.progress, { imagesPresent: 1, imagesTotal: 2 });
    assert.deepEqual(
      report.services.map((s) => [s.name, s.releaseId]),
      [
        ['a', 'r2'],
        ['b', 'r1'],
      ],
    );
  });

  it('reports applying for a new release whose images are all here (e.g. a pin back to the last one)', () => {
    const report = reportOf(engineState(r1, [...imagesOf(r1), imgB2]), r2, PENDING);
    assert.equal(report.updateStatus, 'applying');
    assert.equal(report.targetReleaseId, 'r2');
  });

  it('reports converged for a new target the device already runs in full (a change of config alone)', () => {
    const moved = { ...r1, config: { ...r1.config, pollIntervalSeconds: 30 } };
    const report = reportOf(engineState(r1, imagesOf(r1)), moved, PENDING);
    assert.equal(report.updateStatus, 'converged');
    assert.equal(report.releaseId, 'r1');
    assert.equal(report.targetReleaseId, 'r1');
  });

  it('never pairs converged with a running release other than the target one', () => {
    for (const images of [imagesOf(r1), [...imagesOf(r1), imgB2]]) {
      const report = reportOf(engineState(r1, images), r2, PENDING);
      assert.ok(
        !(report.updateStatus === 'converged' && report.releaseId !== report.targetReleaseId),
        JSON.stringify(report),
      );
    }
  });

  it('a refused target keeps the running release and says why, as before', () => {
    const report = reportOf(
      engineState(r1, imagesOf(r1)),
      r1,
      { phase: 'converged', error: null, waiting: [] },
      'target state from the API is not signed by the API key',
    );
    assert.equal(report.updateStatus, 'error');
    assert.equal(report.targetReleaseId, 'r1');
    assert.equal(report.releaseId, 'r1');
    assert.match(report.error ?? '', /not signed/);
  });
});

describe('reconciler status when a target is taken', () => {
  // An engine on a socket nobody listens on: taking a target must not need the engine at all.
  const log = createLogger('test-pending-status', { test: 'unit' });
  log.level = 'warn';
  const engine = dockerEngine('unix:///nonexistent/skiff-test/docker.sock', log);

  it('is pending from the call on, is announced, and stays as it is for the same target again', () => {
    const reconciler = new Reconciler({ engine, log });
    const seen: ReconcileStatus[] = [];
    reconciler.onStatus((s) => seen.push(s));
    assert.equal(reconciler.currentStatus().phase, 'idle');

    reconciler.setTarget(r1);
    assert.deepEqual(reconciler.currentStatus(), PENDING);
    assert.equal(reconciler.currentTarget(), r1);
    assert.deepEqual(seen, [PENDING]);

    // The same content again (e.g. a re-sent target): no new verdict is needed, none is announced.
    reconciler.setTarget(structuredClone(r1));
    assert.deepEqual(seen, [PENDING]);

    reconciler.setTarget(r2);
    assert.deepEqual(reconciler.currentStatus(), PENDING);
    assert.equal(reconciler.currentTarget(), r2);
  });
});

import assert from 'node:assert/strict';
import { StateReportSchema } from '../../protocol/state-report.js';
import { check } from '../../protocol/validate.js';
import type { ObservedContainer } from '../../supervisor/current-state.js';
import { desiredState } from '../../supervisor/desired-state.js';
import type { ReconcileStatus } from '../../supervisor/reconciler.js';
import { buildReport, type ReportInput } from '../../supervisor/reporter.js';
import type { TargetState } from '../../protocol/target-state.js';
import { fakeImage, serviceSpec, targetState } from '../support/supervisor-targets.js';

const imgA = fakeImage('a', 'a1');
const imgB1 = fakeImage('b', 'b1');
const imgB2 = fakeImage('b', 'b2');
const r1 = targetState([serviceSpec('a', imgA), serviceSpec('b', imgB1)], { releaseId: 'r1' });
const r2 = targetState([serviceSpec('a', imgA), serviceSpec('b', imgB2)], { releaseId: 'r2' });

function container(target: TargetState, service: string, extra: Partial<ObservedContainer> = {}): ObservedContainer {
  const d = desiredState(target).containers.find((c) => c.service === service);
  assert.ok(d);
  return {
    id: `${service}-${target.release?.id ?? ''}`, name: d.name, service, releaseId: target.release?.id ?? null,
    configHash: d.configHash, image: d.image, state: 'running', health: null, exitCode: null,
    createdAt: '2026-01-01T00:00:00.000Z', networks: d.networks, stopTimeoutSeconds: null, ...extra,
  };
}

const converged: ReconcileStatus = { phase: 'converged', error: null, waiting: [] };

function report(containers: ObservedContainer[], target: TargetState | null, extra: Partial<ReportInput> = {}) {
  const value = buildReport({
    current: { containers, images: [], networks: [], volumes: [] },
    target,
    status: converged,
    targetError: null,
    supervisorVersion: '0.1.0',
    now: new Date('2026-02-03T04:05:06.000Z'),
    ...extra,
  });
  assert.deepEqual(check(StateReportSchema, value), []);
  return value;
}

describe('state report', () => {
  it('says the device runs the target release when every service matches it, whoever created the container', () => {
    const value = report([container(r1, 'a'), container(r2, 'b')], r2);
    assert.equal(value.releaseId, 'r2');
    assert.equal(value.targetReleaseId, 'r2');
    assert.equal(value.updateStatus, 'converged');
    assert.deepEqual(value.services.map((s) => [s.name, s.releaseId, s.containerId]), [['a', 'r2', 'a-r1'], ['b', 'r2', 'b-r2']]);
    assert.equal(value.reportedAt, '2026-02-03T04:05:06.000Z');
  });

  it('has no release while services are of mixed releases, and shows the old one where it still runs', () => {
    const value = report([container(r1, 'a'), container(r1, 'b')], r2, { status: { phase: 'downloading', error: null, waiting: [] } });
    assert.equal(value.releaseId, null);
    assert.equal(value.updateStatus, 'downloading');
    assert.deepEqual(value.services.map((s) => [s.name, s.releaseId]), [['a', 'r2'], ['b', 'r1']]);
  });

  it('reports a service without a container as missing, and containers of dropped services', () => {
    const only = targetState([serviceSpec('b', imgB1)], { releaseId: 'r3' });
    const value = report([container(r1, 'a', { state: 'exited', exitCode: 0 })], only);
    assert.deepEqual(value.services, [
      { name: 'b', releaseId: null, image: imgB1, containerId: null, state: 'missing', health: null, exitCode: null },
      { name: 'a', releaseId: 'r1', image: imgA, containerId: 'a-r1', state: 'exited', health: null, exitCode: 0 },
    ]);
    assert.equal(value.releaseId, null);
  });

  it('carries the reconcile error, and a refused target as an error', () => {
    const failing = report([container(r1, 'a'), container(r1, 'b')], r1, { status: { phase: 'error', error: 'fetch image x failed', waiting: [] } });
    assert.equal(failing.updateStatus, 'error');
    assert.equal(failing.error, 'fetch image x failed');
    const refused = report([container(r1, 'a'), container(r1, 'b')], r1, { targetError: 'target state from the API is invalid: /services: dependency cycle a -> a' });
    assert.equal(refused.updateStatus, 'error');
    assert.equal(refused.releaseId, 'r1');
    assert.match(refused.error ?? '', /dependency cycle/);
  });

  it('without a target, names the release all containers share', () => {
    assert.equal(report([container(r1, 'a'), container(r1, 'b')], null).releaseId, 'r1');
    assert.equal(report([container(r1, 'a'), container(r2, 'b')], null).releaseId, null);
    assert.equal(report([], null).releaseId, null);
  });
});

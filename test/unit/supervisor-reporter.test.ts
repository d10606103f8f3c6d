import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  DeviceMetricsSchema,
  REPORT_LIMITS,
  StateReportSchema,
  type DeviceMetrics,
} from '../../protocol/state-report.js';
import { check } from '../../protocol/validate.js';
import type { ObservedContainer } from '../../supervisor/plan/observed.js';
import { desiredState } from '../../supervisor/plan/desired-state.js';
import type { ReconcileStatus } from '../../supervisor/reconcile/reconciler.js';
import { buildReport, reportChanges, type ReportInput } from '../../supervisor/online/reporter.js';
import { bucketKey, KERNEL_FILES, MetricsSampler, undervoltageOf } from '../../supervisor/device/metrics.js';
import { mergeReport } from '../../registry-api/devices/report-merge.js';
import type { TargetState } from '../../protocol/target-state.js';
import { fakeImage, serviceSpec, targetState } from '../../harness/supervisor-targets.js';

const imgA = fakeImage('a', 'a1');
const imgB1 = fakeImage('b', 'b1');
const imgB2 = fakeImage('b', 'b2');
const r1 = targetState([serviceSpec('a', imgA), serviceSpec('b', imgB1)], { releaseId: 'r1' });
const r2 = targetState([serviceSpec('a', imgA), serviceSpec('b', imgB2)], { releaseId: 'r2' });

function container(target: TargetState, service: string, extra: Partial<ObservedContainer> = {}): ObservedContainer {
  const d = desiredState(target).containers.find((c) => c.service === service);
  assert.ok(d);
  return {
    id: `${service}-${target.release?.id ?? ''}`,
    name: d.name,
    service,
    releaseId: target.release?.id ?? null,
    configHash: d.configHash,
    image: d.image,
    state: 'running',
    health: null,
    exitCode: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    networks: d.networks,
    stopTimeoutSeconds: null,
    ...extra,
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
  it('cuts an over-long error to the report limit, saying how much was cut, so the API still takes the report', () => {
    const long = `registry said: ${'x'.repeat(20_000)}`;
    const value = report([container(r1, 'a'), container(r1, 'b')], r1, {
      status: { phase: 'error', error: long, waiting: [] },
    });
    assert.equal(value.error?.length, REPORT_LIMITS.errorChars);
    assert.match(value.error ?? '', /^registry said: x+ \.\.\. \(\d+ more characters\)$/);
    const short = report([container(r1, 'a'), container(r1, 'b')], r1, {
      status: { phase: 'error', error: 'disk full', waiting: [] },
    });
    assert.equal(short.error, 'disk full');
  });

  it('says the device runs the target release when every service matches it, whoever created the container', () => {
    const value = report([container(r1, 'a'), container(r2, 'b')], r2);
    assert.equal(value.releaseId, 'r2');
    assert.equal(value.targetReleaseId, 'r2');
    assert.equal(value.updateStatus, 'converged');
    assert.deepEqual(
      value.services.map((s) => [s.name, s.releaseId, s.containerId]),
      [
        ['a', 'r2', 'a-r1'],
        ['b', 'r2', 'b-r2'],
      ],
    );
    assert.equal(value.reportedAt, '2026-02-03T04:05:06.000Z');
  });

  it('has no release while services are of mixed releases, and shows the old one where it still runs', () => {
    const value = report([container(r1, 'a'), container(r1, 'b')], r2, {
      status: { phase: 'downloading', error: null, waiting: [] },
    });
    assert.equal(value.releaseId, null);
    assert.equal(value.updateStatus, 'downloading');
    assert.deepEqual(
      value.services.map((s) => [s.name, s.releaseId]),
      [
        ['a', 'r2'],
        ['b', 'r1'],
      ],
    );
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
    const failing = report([container(r1, 'a'), container(r1, 'b')], r1, {
      status: { phase: 'error', error: 'fetch image x failed', waiting: [] },
    });
    assert.equal(failing.updateStatus, 'error');
    assert.equal(failing.error, 'fetch image x failed');
    const refused = report([container(r1, 'a'), container(r1, 'b')], r1, {
      targetError: 'target state from the API is invalid: /services: dependency cycle a -> a',
    });
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

describe('partial reports', () => {
  const metrics = (cpuPercent: number, temperatureCelsius: number | null = 50): DeviceMetrics => ({
    cpuPercent,
    memoryUsedBytes: 300,
    memoryTotalBytes: 1000,
    temperatureCelsius,
    diskUsedBytes: 10,
    diskTotalBytes: 100,
    uptimeSeconds: 5,
  });

  it('carries only the fields that changed, never reportedAt', () => {
    const before = report([container(r1, 'a'), container(r1, 'b')], r1);
    const after = report([container(r1, 'a'), container(r1, 'b', { state: 'exited', exitCode: 137 })], r1, {
      now: new Date('2026-02-03T04:06:00.000Z'),
    });
    const changes = reportChanges(before, after);
    assert.deepEqual(Object.keys(changes ?? {}), ['services']);
    assert.deepEqual(
      changes?.services?.find((s) => s.name === 'b'),
      { ...after.services[1] },
    );
    assert.deepEqual(reportChanges(before, { ...before, reportedAt: '2027-01-01T00:00:00.000Z' }), {});
  });

  it('sends metrics only when a value leaves its bucket by a quarter bucket, and asks for a full report when a field disappears', () => {
    const base = report([container(r1, 'a'), container(r1, 'b')], r1, { metrics: metrics(21) });
    assert.deepEqual(reportChanges(base, { ...base, metrics: { ...metrics(39), uptimeSeconds: 900 } }), {});
    // At a bucket's edge a value wobbles: 41% is past the 40% edge but within the hysteresis, 46% is not.
    assert.deepEqual(reportChanges(base, { ...base, metrics: metrics(41) }), {});
    assert.deepEqual(reportChanges(base, { ...base, metrics: metrics(21, 56) }), {});
    assert.deepEqual(Object.keys(reportChanges(base, { ...base, metrics: metrics(46) }) ?? {}), ['metrics']);
    assert.deepEqual(Object.keys(reportChanges(base, { ...base, metrics: metrics(14) }) ?? {}), ['metrics']);
    assert.deepEqual(Object.keys(reportChanges(base, { ...base, metrics: metrics(21, 57) }) ?? {}), ['metrics']);
    const { metrics: _dropped, ...without } = base;
    assert.equal(reportChanges(base, without), null);
  });

  it('merges a partial report into the stored one on the API side', () => {
    const stored = report([container(r1, 'a'), container(r1, 'b')], r1);
    const merged = mergeReport(stored, { updateStatus: 'downloading', reportedAt: '2026-02-03T05:00:00.000Z' });
    assert.deepEqual(merged, { ...stored, updateStatus: 'downloading', reportedAt: '2026-02-03T05:00:00.000Z' });
    assert.throws(() => mergeReport(stored, { updateStatus: 'sleeping' as 'error' }), /updateStatus/);
  });
});

describe('device metrics', () => {
  it('reads the under-voltage flag from get_throttled (now or since boot)', () => {
    assert.equal(undervoltageOf('0x0\n'), false);
    assert.equal(undervoltageOf('0x50005\n'), true);
    assert.equal(undervoltageOf('throttled=0x10000'), true);
    assert.equal(undervoltageOf('throttled=0x4'), false);
    assert.equal(undervoltageOf('garbage'), undefined);
  });

  it('buckets cpu by 20%, memory by 10% and temperature by 5 C; uptime never counts', () => {
    const m: DeviceMetrics = {
      cpuPercent: 25,
      memoryUsedBytes: 310,
      memoryTotalBytes: 1000,
      temperatureCelsius: 51,
      diskUsedBytes: 10,
      diskTotalBytes: 100,
      uptimeSeconds: 5,
    };
    assert.equal(
      bucketKey({ ...m, cpuPercent: 39.9, memoryUsedBytes: 390, temperatureCelsius: 54.9, uptimeSeconds: 99 }),
      bucketKey(m),
    );
    assert.notEqual(bucketKey({ ...m, cpuPercent: 40 }), bucketKey(m));
    assert.notEqual(bucketKey({ ...m, memoryUsedBytes: 400 }), bucketKey(m));
    assert.notEqual(bucketKey({ ...m, temperatureCelsius: 55 }), bucketKey(m));
    assert.notEqual(bucketKey({ ...m, undervoltage: true }), bucketKey(m));
  });

  it('samples this machine from the kernel: memory, disk, uptime, and the CPU share between samples', async () => {
    const sampler = new MetricsSampler(process.cwd(), { ...KERNEL_FILES, throttled: '/nonexistent/get_throttled' });
    const first = await sampler.sample();
    const second = await sampler.sample();
    for (const sample of [first, second]) {
      assert.deepEqual(check(DeviceMetricsSchema, sample), []);
      assert.ok(sample.memoryTotalBytes > 0 && sample.diskTotalBytes > 0 && sample.uptimeSeconds > 0);
      assert.ok(sample.memoryUsedBytes <= sample.memoryTotalBytes && sample.diskUsedBytes <= sample.diskTotalBytes);
      assert.ok(sample.cpuPercent >= 0 && sample.cpuPercent <= 100, String(sample.cpuPercent));
    }
  });

  it("reads a Pi's counters: CPU busy share over the interval, active memory, the SoC's temperature", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'skiff-metrics-'));
    try {
      const files = {
        stat: path.join(dir, 'stat'),
        meminfo: path.join(dir, 'meminfo'),
        thermal: path.join(dir, 'temp'),
        throttled: path.join(dir, 'get_throttled'),
      };
      // user nice system idle iowait irq softirq steal guest guest_nice
      await writeFile(files.stat, 'cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\nintr 1\n');
      await writeFile(files.meminfo, 'MemTotal:         944268 kB\nMemFree:  1 kB\nActive:           302120 kB\n');
      await writeFile(files.thermal, '48312\n');
      await writeFile(files.throttled, '0x50005\n');
      const sampler = new MetricsSampler(dir, files);
      const first = await sampler.sample();
      // Since boot: 200 busy of 1,000.
      assert.deepEqual(
        [first.cpuPercent, first.memoryUsedBytes, first.memoryTotalBytes, first.temperatureCelsius, first.undervoltage],
        [20, 302120 * 1024, 944268 * 1024, 48.312, true],
      );
      // 300 more busy and 100 more idle since: 75% over the interval, not the 41.7% since boot.
      await writeFile(files.stat, 'cpu  300 0 200 800 100 0 0 0 0 0\n');
      await rm(files.thermal);
      const second = await sampler.sample();
      assert.equal(second.cpuPercent, 75);
      assert.equal(second.temperatureCelsius, null, 'no thermal zone: no temperature');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('state report: application health and rollback', () => {
  it('puts restarts, restart loop and application health on the service whose container they were judged on', () => {
    const a = container(r1, 'a');
    const b = container(r1, 'b');
    const appHealth = { ok: false, value: 0.5, detail: 'bad telegrams', reportedAt: '2026-02-03T04:05:00.000Z' };
    const rollback = {
      fromReleaseId: 'r2',
      toReleaseId: 'r1',
      reason: 'restart loop: b',
      at: '2026-02-03T04:05:00.000Z',
    };
    const value = report([a, b], r1, {
      serviceHealth: new Map([
        ['a', { containerId: a.id, restarts: 4, restartLoop: true, appHealth }],
        // Facts about another container of b (an older one) are not b's current container's.
        ['b', { containerId: 'some-other-container', restarts: 9, restartLoop: true }],
      ]),
      rollback,
    });
    const [ra, rb] = value.services;
    assert.deepEqual([ra?.restarts, ra?.restartLoop, ra?.appHealth], [4, true, appHealth]);
    assert.deepEqual([rb?.restarts, rb?.restartLoop, rb?.appHealth], [undefined, undefined, undefined]);
    assert.deepEqual(value.rollback, rollback);
    assert.equal(report([a, b], r1).rollback, undefined);
  });
});

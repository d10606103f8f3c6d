// What keeps an idle device's data use down, on the device's side: the push channel's timings from the one
// announced heartbeat, the poller resting while the channel is open, and the per-purpose counters.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { announcedHeartbeatSeconds, pushTimings } from '../../protocol/device-events.js';
import { Poller } from '../../supervisor/online/poller.js';
import type { ApiClient } from '../../supervisor/online/api-client.js';
import { PatchDigests, purposeOfUrl, TRAFFIC_FILE, TrafficCounters } from '../../supervisor/device/traffic.js';
import { Reporter } from '../../supervisor/online/reporter.js';
import {
  applyServiceChanges,
  serviceChangesOf,
  type DeviceMetrics,
  type PartialStateReport,
  type ServiceReport,
  type StateReport,
} from '../../protocol/state-report.js';
import { mergeReport } from '../../registry-api/devices/report-merge.js';
import type { DeviceSummary } from '../../protocol/api.js';
import { dataUseOf } from '../../registry-api/devices/summary.js';
import { deviceDetail, fleetDataUseText } from '../../cli/views/api-objects.js';
import { addSettingsOptions, settingsChangeOf } from '../../cli/options/settings.js';
import type { DeviceDetail } from '../../protocol/device-detail.js';
import { Command } from 'commander';

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('metered device', () => {
  describe('push channel timings', () => {
    it('derive from the one heartbeat: one lost heartbeat tolerated, keepalive never before two are missed', () => {
      const t = pushTimings(600);
      assert.equal(t.heartbeatMs, 600_000);
      assert.ok(t.deviceSilenceMs > 2 * t.heartbeatMs && t.deviceSilenceMs < 3 * t.heartbeatMs);
      assert.ok(t.tcpKeepAliveMs > t.deviceSilenceMs, 'TCP keepalive never probes while heartbeats flow');
      assert.ok(t.serverKeepAliveMs > t.requestIdleMs + 1000, 'the device closes an idle connection first');
    });

    it('take the announced heartbeat only as whole seconds within bounds', () => {
      assert.equal(announcedHeartbeatSeconds('240'), 240);
      assert.equal(announcedHeartbeatSeconds('1'), 10);
      assert.equal(announcedHeartbeatSeconds('999999'), 3600);
      assert.equal(announcedHeartbeatSeconds(null), null);
      assert.equal(announcedHeartbeatSeconds('4m'), null);
      assert.equal(announcedHeartbeatSeconds('1e3'), null);
    });
  });

  describe('poller', () => {
    it('does not poll while the push channel is open, and polls at once when it closes', async () => {
      const polls: number[] = [];
      const api = {
        fetchTarget: async () => {
          polls.push(Date.now());
          return { changed: false as const };
        },
      } as unknown as ApiClient;
      const poller = new Poller({ api, uuid: 'u', log, onTarget: async () => {}, intervalOverrideMs: 50 });
      poller.start();
      try {
        await sleep(180);
        assert.ok(polls.length >= 3, `${polls.length} polls at a 50 ms interval`);
        poller.setPushOpen(true);
        await sleep(60);
        const opened = polls.length;
        await sleep(300);
        assert.equal(polls.length, opened, 'no poll while the channel is open (one on opening)');
        const closedAt = Date.now();
        poller.setPushOpen(false);
        await sleep(30);
        assert.equal(polls.length, opened + 1);
        assert.ok((polls.at(-1) ?? 0) - closedAt < 30);
        await sleep(200);
        assert.ok(polls.length >= opened + 3, 'the interval is back');
      } finally {
        await poller.stop();
      }
    });
  });

  describe('reporter', () => {
    const metrics = (cpuPercent: number): DeviceMetrics => ({
      cpuPercent,
      memoryUsedBytes: 300,
      memoryTotalBytes: 1000,
      temperatureCelsius: null,
      diskUsedBytes: 10,
      diskTotalBytes: 100,
      uptimeSeconds: 5,
    });

    it('holds back a change of metrics alone until its interval, and carries data use on what it sends', async () => {
      const sent: Array<StateReport | PartialStateReport> = [];
      let cpu = 10;
      let exited = false;
      const reporter = new Reporter({
        observe: async () => ({ containers: [], images: [], networks: [], volumes: [] }),
        situation: () => ({
          target: null,
          status: { phase: exited ? 'applying' : 'converged', error: null, waiting: [] },
          targetError: null,
        }),
        send: async (report) => {
          sent.push(report);
          return `"${sent.length}"`;
        },
        log,
        supervisorVersion: '0.1.0',
        metrics: async () => metrics(cpu),
        metricsIntervalMs: 1,
        metricsReportIntervalMs: 60_000,
        minIntervalMs: 1,
        traffic: () => ({ month: '2026-12', bytes: { polls: [1, 2] } }),
      });
      await reporter.reportOnce();
      assert.equal(sent.length, 1, 'the first report is full');
      assert.deepEqual(sent[0]?.traffic, { month: '2026-12', bytes: { polls: [1, 2] } });
      cpu = 90;
      await sleep(5);
      await reporter.reportOnce();
      assert.equal(sent.length, 1, 'metrics alone wait for their interval');
      exited = true;
      await sleep(5);
      await reporter.reportOnce();
      assert.equal(sent.length, 2);
      assert.deepEqual(Object.keys(sent[1] ?? {}).sort(), ['metrics', 'reportedAt', 'traffic', 'updateStatus']);
    });

    it("reports metrics alone at the fleet's interval when its target sets one, and the day's fields on demand", async () => {
      const sent: Array<StateReport | PartialStateReport> = [];
      let cpu = 10;
      let fleetMs: number | undefined;
      const reporter = new Reporter({
        observe: async () => ({ containers: [], images: [], networks: [], volumes: [] }),
        situation: () => ({
          target: null,
          status: { phase: 'converged', error: null, waiting: [] },
          targetError: null,
        }),
        send: async (report) => {
          sent.push(report);
          return `"${sent.length}"`;
        },
        log,
        supervisorVersion: '0.1.0',
        metrics: async () => metrics(cpu),
        metricsIntervalMs: 1,
        metricsReportIntervalMs: 24 * 3600_000,
        minIntervalMs: 1,
        fleetMetricsIntervalMs: () => fleetMs,
        traffic: () => ({ month: '2026-12', bytes: { polls: [1, 2] } }),
      });
      await reporter.reportOnce();
      assert.equal(sent.length, 1);
      cpu = 90;
      await sleep(5);
      await reporter.reportOnce();
      assert.equal(sent.length, 1, "without the fleet's interval, metrics alone wait a day");
      fleetMs = 20;
      await sleep(25);
      await reporter.reportOnce();
      assert.equal(sent.length, 2, "the fleet's interval elapsed: the metrics go");
      assert.ok(sent[1]?.metrics !== undefined);
      await sleep(5);
      await reporter.reportOnce();
      assert.equal(sent.length, 2, 'nothing changed, and the data use went out with the metrics');
      reporter.sendDaily();
      await reporter.reportOnce();
      assert.equal(sent.length, 3, "the day's fields go when asked for");
      assert.deepEqual(Object.keys(sent[2] ?? {}).sort(), ['reportedAt', 'traffic']);
    });
  });

  describe('traffic counters', () => {
    it('count a delta patch, fetched as a registry blob, as deltas, and other blobs as blobs', () => {
      const patch = `sha256:${'a'.repeat(64)}`;
      const layer = `sha256:${'b'.repeat(64)}`;
      const patches = new PatchDigests(2);
      patches.add(patch);
      const blob = (digest: string) => new URL(`https://registry.example/v2/fleet/app/blobs/${digest}`);
      assert.equal(purposeOfUrl(blob(patch), patches), 'deltas');
      assert.equal(purposeOfUrl(blob(layer), patches), 'blobs');
      assert.equal(purposeOfUrl(blob(patch)), 'blobs', 'without the patches noted, a blob is a blob');
      assert.equal(
        purposeOfUrl(new URL(`https://registry.example/v2/fleet/app/manifests/${patch}`), patches),
        'manifests',
      );
      // Bounded: the oldest noted patch goes first.
      patches.add(`sha256:${'c'.repeat(64)}`);
      patches.add(`sha256:${'d'.repeat(64)}`);
      assert.equal(purposeOfUrl(blob(patch), patches), 'blobs');
    });

    it('count by purpose for the month and the day, start afresh on a new month, and persist', async () => {
      const dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-traffic-'));
      try {
        let now = new Date('2026-11-30T23:59:00Z');
        const counters = await TrafficCounters.load({ dataDir, log, now: () => now });
        counters.add('polls', { sent: 300, received: 200 });
        counters.add('polls', { sent: 300, received: 200 });
        counters.add('push', { sent: 0, received: 40 });
        assert.deepEqual(counters.month(), { month: '2026-11', bytes: { polls: [600, 400], push: [0, 40] } });
        now = new Date('2026-12-01T00:00:01Z');
        counters.add('reports', { sent: 900, received: 100 });
        assert.deepEqual(counters.month(), { month: '2026-12', bytes: { reports: [900, 100] } });
        assert.deepEqual(counters.today(), { date: '2026-12-01', bytes: { reports: [900, 100] } });
        await counters.stop();
        const saved = JSON.parse(await readFile(path.join(dataDir, TRAFFIC_FILE), 'utf8')) as unknown;
        assert.deepEqual(saved, {
          month: { month: '2026-12', bytes: { reports: [900, 100] } },
          day: { date: '2026-12-01', bytes: { reports: [900, 100] } },
        });
        const again = await TrafficCounters.load({ dataDir, log, now: () => now });
        assert.deepEqual(again.month(), { month: '2026-12', bytes: { reports: [900, 100] } });
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  });

  describe('data use on the API and in the CLI', () => {
    it('takes the metrics interval and the data budget as settings, and refuses what they cannot be', () => {
      assert.deepEqual(settingsChangeOf({ metricsInterval: 3600, dataBudget: 5_000_000 }), {
        metricsIntervalSeconds: 3600,
        dataBudgetBytesPerMonth: 5_000_000,
      });
      assert.deepEqual(settingsChangeOf({ dataBudget: 'none' }), { dataBudgetBytesPerMonth: null });
      const program = addSettingsOptions(new Command('set').exitOverride().configureOutput({ writeErr: () => {} }));
      assert.throws(() => program.parse(['--data-budget', '5MB'], { from: 'user' }), /bytes per month/);
      assert.throws(() => program.parse(['--metrics-interval', '10'], { from: 'user' }), /60/);
    });

    it("shows the API's days and months, and an update deferred by the budget", () => {
      const text = deviceDetail({
        uuid: '0b0e9c1e-0000-4000-8000-000000000001',
        name: 'd',
        fleet: 'f',
        deviceType: 'raspberrypi4-64',
        lastSeen: null,
        targetRelease: null,
        runningRelease: null,
        updateStatus: 'downloading',
        error: null,
        status: 'offline',
        pinnedRelease: null,
        lastReport: {
          supervisorVersion: '0.1.0',
          updateStatus: 'downloading',
          targetReleaseId: 'r1',
          releaseId: null,
          services: [],
          error: null,
          reportedAt: '2026-12-07T03:00:00Z',
          deferred: {
            reason: 'data-budget',
            message: 'deferred to 2027-01-01T00:00:00.000Z by the data budget',
            until: '2027-01-01T00:00:00.000Z',
          },
        },
        dataUse: {
          days: [{ period: '2026-12-07', bytes: { polls: [1000, 2000] } }],
          months: [{ period: '2026-12', bytes: { polls: [1000, 2000], reports: [500, 0] } }],
        },
      } as unknown as DeviceDetail);
      assert.match(text, /Update deferred:\s+deferred to 2027-01-01T00:00:00.000Z by the data budget/);
      assert.match(text, /2026-12-07\s+3(\.0)? kB \(polls 3(\.0)? kB\)/);
      assert.match(text, /2026-12\s+3\.5 kB \(polls 3(\.0)? kB, reports 500 B\)/);
    });

    it("sums a device's reported month, and only for the current month", () => {
      const report = {
        traffic: { month: '2026-12', bytes: { polls: [100, 200], push: [0, 50] } },
      } as unknown as StateReport;
      assert.equal(dataUseOf(report, new Date('2026-12-07T03:00:00Z')), 350);
      assert.equal(dataUseOf(report, new Date('2027-01-01T00:00:00Z')), undefined);
      assert.equal(dataUseOf(null, new Date('2026-12-07T03:00:00Z')), undefined);
    });

    it('totals each fleet over the devices that reported, saying how many did', () => {
      const device = (fleet: string, dataUseBytes?: number) =>
        ({ fleet, ...(dataUseBytes === undefined ? {} : { dataUseBytes }) }) as DeviceSummary;
      assert.equal(
        fleetDataUseText([device('meters', 1000), device('meters', 2000), device('meters'), device('quiet')]),
        'Data use this month, fleet meters: 3.0 kB (2 of 3 devices reported theirs)\n',
      );
      assert.equal(fleetDataUseText([device('quiet')]), null);
    });
  });

  describe('per-service report changes', () => {
    const service = (name: string, health: ServiceReport['health'] = 'healthy'): ServiceReport => ({
      name,
      releaseId: 'r1',
      image: `reg/${name}@sha256:${'a'.repeat(64)}`,
      containerId: `${name}-1`,
      state: 'running',
      health,
      exitCode: null,
    });

    it('say only which services changed, and the API rebuilds the list from them', () => {
      const before = [service('a'), service('b'), service('c')];
      const after = [service('a'), service('b', 'unhealthy'), service('d')];
      const changes = serviceChangesOf(before, after);
      assert.deepEqual(changes, { set: [service('b', 'unhealthy'), service('d')], removed: ['c'] });
      assert.deepEqual(applyServiceChanges(before, changes), after);
      const stored = {
        supervisorVersion: '0.1.0',
        updateStatus: 'converged',
        targetReleaseId: 'r1',
        releaseId: 'r1',
        services: before,
        error: null,
        reportedAt: '2026-12-07T03:00:00.000Z',
      } satisfies StateReport;
      const merged = mergeReport(stored, { serviceChanges: changes, reportedAt: '2026-12-07T03:01:00.000Z' });
      assert.deepEqual(merged.services, after);
      assert.equal(merged.reportedAt, '2026-12-07T03:01:00.000Z');
    });
  });
});

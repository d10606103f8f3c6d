// A device on a metered link, end to end: a supervisor process talks to the real registry-api (in this process,
// SQLite) through a byte-counting TCP proxy (harness/metered-link.ts, plain HTTP here so the proxy's bytes are
// exactly the HTTP bytes the device counts). Its own counters by purpose must match what the proxy saw; while its
// push channel is open it does not poll, and the channel going down brings polling back at once.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { TRAFFIC_FILE } from '../../supervisor/device/traffic.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { MeteredLink, type LinkPurpose } from '../../harness/metered-link.js';
import { cleanDevice, deviceDocker, eventually, managedContainers } from '../../harness/supervisor-device.js';
import {
  apiSigningKeyAt,
  makeDataDir,
  printLogsIfFailed,
  SupervisorProcess,
} from '../../harness/supervisor-process.js';
import { paths } from '../../protocol/http/paths.js';
import type { TrafficPurpose } from '../../protocol/state-report.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const POLL_MS = 2_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('supervisor on a metered link', function () {
  this.timeout(180_000);
  let api: ApiServer;
  let link: MeteredLink;
  let device: SupervisorProcess | undefined;
  const dataDirs: string[] = [];

  before(async () => {
    api = await ApiServer.start({ registry: env.registry, productionServer: true });
    link = await MeteredLink.start({ apiUrl: api.url, tls: false });
    await cleanDevice(docker);
  });

  afterEach(async function () {
    printLogsIfFailed(this.currentTest, device);
    link.refused = null;
    await device?.stop('SIGKILL');
    device = undefined;
  });

  after(async () => {
    await link.stop();
    await api.stop();
    await cleanDevice(docker);
    await Promise.all(dataDirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  /** A device of a new fleet running one service, converged, its push channel open. */
  async function convergedDevice(fleetName: string): Promise<{ uuid: string; dataDir: string; p: SupervisorProcess }> {
    const image = await buildTestImage(env, { repo: 'metered' });
    const fleet = await api.createFleet(fleetName);
    const release = await api.createRelease(fleet.name, 'services:\n  a:\n    build: ./a\n    restart: always\n', {
      a: image,
    });
    const config: SupervisorConfig = {
      apiUrl: link.url,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: 'raspberrypi4-64',
      dockerHost: env.deviceDockerHost,
      localApiPort: 0,
      // Pinned from the API itself, not through the link: only the device's own bytes go through the proxy.
      apiSigningKey: await apiSigningKeyAt(api.url),
    };
    const dataDir = await makeDataDir(config);
    dataDirs.push(dataDir);
    device = new SupervisorProcess(dataDir, {
      SKIFF_POLL_INTERVAL_MS: String(POLL_MS),
      SKIFF_REPORT_INTERVAL_MS: '200',
      SKIFF_METRICS_INTERVAL_MS: '1000',
    });
    const p = device;
    const uuid = await eventually(
      'the device to pick its uuid',
      20_000,
      async () => (JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig).uuid,
    );
    await eventually('the release converged', 60_000, async () => {
      const d = await api.device(uuid);
      return d.lastReport?.updateStatus === 'converged' && d.lastReport.releaseId === release.id ? d : undefined;
    });
    await eventually('the push channel open', 20_000, async () =>
      p.hasLogged('push channel open') ? true : undefined,
    );
    return { uuid, dataDir, p };
  }

  it('counts its bytes by purpose as the proxy sees them, within 5%', async () => {
    const start = Date.now();
    const { dataDir, p } = await convergedDevice('counted');
    // Some reports (metrics every second) and the poll on the channel's opening, then a clean stop writes the counters.
    await sleep(5_000);
    // Stop between requests, not during one: a report the proxy relayed but whose answer the device never counted
    // (stopped while waiting for it) would be a difference of the test's making. Such a gap is 300 ms without a
    // byte on the link (reports go at most every second here) with every request answered: on a busy machine an
    // answer can take longer than the 300 ms, so the last bytes of each open connection but the push channel's
    // must be the API's.
    const allAnswered = (): boolean => {
      const last = new Map<number, (typeof link.chunks)[number]>();
      for (const chunk of link.chunks) last.set(chunk.connection, chunk);
      return [...last.values()].every(
        (chunk) =>
          chunk.direction === 'down' ||
          !link.isOpen(chunk.connection) ||
          link.purposeOf(chunk.connection, chunk.atMs, chunk.direction) === 'push',
      );
    };
    await eventually(
      'a quiet moment on the link, every request answered',
      20_000,
      async () => (Date.now() - (link.chunks.at(-1)?.atMs ?? 0) >= 300 && allAnswered() ? true : undefined),
      20,
    );
    await p.stop('SIGTERM');
    device = undefined;
    await sleep(200);
    const file = JSON.parse(await readFile(path.join(dataDir, TRAFFIC_FILE), 'utf8')) as {
      month: { bytes: Partial<Record<TrafficPurpose, [number, number]>> };
    };
    const seen = link.bytesBetween(start, Date.now() + 1);
    const compared: Array<[LinkPurpose & TrafficPurpose, number, number]> = [];
    // `other`: what the device asks once at start and daily (its tunnel key, to an API without a jump host).
    for (const purpose of ['auth', 'polls', 'push', 'reports', 'other'] as const) {
      const [sent, received] = file.month.bytes[purpose] ?? [0, 0];
      compared.push([purpose, sent + received, seen.byPurpose[purpose]?.payload ?? 0]);
    }
    console.log(`      device vs proxy bytes: ${compared.map(([k, d, s]) => `${k} ${d}/${s}`).join(', ')}`);
    for (const [purpose, counted, relayed] of compared) {
      assert.ok(relayed > 0, `the proxy saw no ${purpose} bytes`);
      assert.ok(
        Math.abs(counted - relayed) <= relayed * 0.05,
        `${purpose}: the device counted ${counted} bytes, the proxy relayed ${relayed}`,
      );
    }
    const comparedPurposes: string[] = compared.map(([purpose]) => purpose);
    for (const purpose of Object.keys(seen.byPurpose))
      assert.ok(comparedPurposes.includes(purpose), `the proxy saw ${purpose} bytes the comparison leaves out`);
  });

  it("has its reported data use kept by the API per day and month, and in its fleet's total", async () => {
    const { uuid, p } = await convergedDevice('kept');
    // Reports go out as metrics change (every second here), each carrying the month's counters.
    const last = await eventually('a report with data use and the table rows for it', 20_000, async () => {
      const d = await api.device(uuid);
      const traffic = d.lastReport?.traffic;
      const month = d.dataUse?.months[0];
      return traffic !== undefined && month !== undefined && month.period === traffic.month && d.dataUse !== undefined
        ? { traffic, dataUse: d.dataUse }
        : undefined;
    });
    await p.stop('SIGTERM');
    device = undefined;
    const d = await api.device(uuid);
    const traffic = d.lastReport?.traffic;
    assert.ok(traffic !== undefined && d.dataUse !== undefined, 'the device reported its data use');
    const month = d.dataUse.months.find((m) => m.period === traffic.month);
    assert.deepEqual(month?.bytes, traffic.bytes, "the month's row is the device's own counters as last reported");
    // Every byte of this month so far was counted today (the device is minutes old): the day's rows add up to it.
    const today = new Date().toISOString().slice(0, 10);
    assert.equal(d.dataUse.days.length, 1, `one day of data use, got ${JSON.stringify(d.dataUse.days)}`);
    assert.equal(d.dataUse.days[0]?.period, today);
    assert.deepEqual(d.dataUse.days[0]?.bytes, traffic.bytes, "today's rows are what the counters grew by today");
    assert.ok(
      (traffic.bytes.reports?.[0] ?? 0) > 0 && (traffic.bytes.polls?.[1] ?? 0) > 0,
      'reports and polls counted',
    );
    assert.ok(last.dataUse.months.length === 1);
    const fleet = await api.admin.getFleet('kept');
    const sum = Object.values(traffic.bytes).reduce(
      (acc, pair) => ({ sent: acc.sent + (pair?.[0] ?? 0), received: acc.received + (pair?.[1] ?? 0) }),
      { sent: 0, received: 0 },
    );
    assert.deepEqual(fleet.dataUse, { month: traffic.month, devices: 1, ...sum });
  });

  it('defers a release its data budget does not cover, saying so, and applies it once the budget allows', async () => {
    await cleanDevice(docker);
    // An image of its own, so the engine lacks it whatever earlier tests pulled.
    const image = await buildTestImage(env, { repo: 'metered-budget' });
    const fleet = await api.createFleet('budget');
    // 1 kB a month: what the device spends signing in and polling already uses it up.
    await api.admin.updateFleet(fleet.name, { dataBudgetBytesPerMonth: 1_000 });
    const release = await api.createRelease(fleet.name, 'services:\n  a:\n    build: ./a\n    restart: always\n', {
      a: image,
    });
    const config: SupervisorConfig = {
      apiUrl: link.url,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: 'raspberrypi4-64',
      dockerHost: env.deviceDockerHost,
      localApiPort: 0,
      // Pinned from the API itself, not through the link: only the device's own bytes go through the proxy.
      apiSigningKey: await apiSigningKeyAt(api.url),
    };
    const dataDir = await makeDataDir(config);
    dataDirs.push(dataDir);
    device = new SupervisorProcess(dataDir, {
      SKIFF_POLL_INTERVAL_MS: String(POLL_MS),
      SKIFF_REPORT_INTERVAL_MS: '200',
    });
    const p = device;
    const uuid = await eventually(
      'the device to pick its uuid',
      20_000,
      async () => (JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig).uuid,
    );
    const deferred = await eventually('the update reported deferred', 60_000, async () => {
      const d = await api.device(uuid);
      return d.lastReport?.deferred !== undefined ? d.lastReport : undefined;
    });
    assert.equal(deferred.updateStatus, 'downloading');
    assert.equal(deferred.targetReleaseId, release.id);
    assert.equal(deferred.error, null);
    assert.equal(deferred.deferred?.reason, 'data-budget');
    const nextMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 1, 1));
    assert.equal(deferred.deferred?.until, nextMonth.toISOString());
    assert.match(
      deferred.deferred?.message ?? '',
      /^deferred to \S+ by the data budget: the update downloads [0-9.]+ [kM]B, 0 kB of this month's 1 kB is left for downloads/,
    );
    assert.ok(!p.logs().some((l) => l.msg === 'applying plan'), 'nothing was fetched or started');
    assert.deepEqual(await managedContainers(docker), [], 'no container was created while the update is deferred');
    // A budget that covers it: the new target reaches the device and the release is applied.
    await api.admin.updateFleet(fleet.name, { dataBudgetBytesPerMonth: 1_000_000_000 });
    await eventually('the release converged once the budget allows', 90_000, async () => {
      const d = await api.device(uuid);
      return d.lastReport?.updateStatus === 'converged' &&
        d.lastReport.releaseId === release.id &&
        d.lastReport.deferred === undefined
        ? d
        : undefined;
    });
  });

  it('does not poll while its push channel is open, and polls at once when the channel goes down', async () => {
    const { uuid, p } = await convergedDevice('fallback');
    const target = paths.target(uuid);
    // The poll on the channel's opening has been answered by now; the interval is 2 s, the channel is open.
    await sleep(1_000);
    const openedPolls = api.requestsTo('GET', target).length;
    await sleep(4 * POLL_MS);
    assert.equal(api.requestsTo('GET', target).length, openedPolls, 'no poll while the push channel is open');

    // The channel goes down and cannot come back: the device polls at once, then at its interval.
    link.refused = 'push';
    const downAt = Date.now();
    link.dropConnections();
    const firstPoll = await eventually(
      'a poll after the channel went down',
      10_000,
      async () => api.requests.find((r) => r.method === 'GET' && r.path === target && r.atMs >= downAt),
      20,
    );
    const latency = firstPoll.atMs - downAt;
    console.log(`      channel down -> poll: ${latency} ms`);
    assert.ok(latency < 1_000, `the first poll came ${latency} ms after the channel went down`);
    await sleep(3 * POLL_MS);
    const after = api.requests.filter((r) => r.method === 'GET' && r.path === target && r.atMs >= downAt).length;
    assert.ok(after >= 3, `${after} polls in ${3 * POLL_MS} ms after the channel went down`);
    assert.ok(p.hasLogged('push channel closed; polling instead'));
  });
});

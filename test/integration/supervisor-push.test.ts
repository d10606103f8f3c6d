// The push channel and partial reports, end to end: a supervisor process against the real registry-api (in this
// process, over HTTP, SQLite), managing the environment's device engine. Polling is set to 10 minutes, so a device
// that follows a pin within 2 seconds can only have heard of it through GET .../events.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { cleanDevice, deviceDocker, eventually } from '../../harness/supervisor-device.js';
import { makeDataDir, printLogsIfFailed, SupervisorProcess, type LogLine } from '../../harness/supervisor-process.js';
import { eventPaths, paths } from '../../protocol/http/paths.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const TEN_MINUTES_MS = 600_000;

function composeOf(services: string[]): string {
  return [
    'services:',
    ...services.flatMap((name) => [`  ${name}:`, `    build: ./${name}`, '    restart: always']),
    '',
  ].join('\n');
}

describe('supervisor push channel and partial reports', function () {
  this.timeout(180_000);
  let api: ApiServer;
  let device: SupervisorProcess | undefined;
  const dataDirs: string[] = [];

  before(async () => {
    api = await ApiServer.start({ registry: env.registry });
    await cleanDevice(docker);
  });

  afterEach(async function () {
    printLogsIfFailed(this.currentTest, device);
    if (this.currentTest?.state === 'failed') {
      console.error(`--- requests ---\n${api.requests.map((r) => `${r.method} ${r.path} ${r.status}`).join('\n')}`);
    }
    await device?.stop('SIGKILL');
    device = undefined;
  });

  after(async () => {
    await api.stop();
    await cleanDevice(docker);
    await Promise.all(dataDirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  /** The first log line at or after `since` with this message and release. */
  function firstPlan(p: SupervisorProcess, releaseId: string, since: number): LogLine | undefined {
    return p
      .logs()
      .find(
        (l) => l.msg === 'applying plan' && l.release === releaseId && typeof l.time === 'number' && l.time >= since,
      );
  }

  it('applies a pin within 2 s of it with a 10 minute poll interval, and reports only what changed', async () => {
    const [a1, a2] = await Promise.all([buildTestImage(env, { repo: 'a' }), buildTestImage(env, { repo: 'a' })]);
    const fleet = await api.createFleet('pushed');
    const release1 = await api.createRelease(fleet.name, composeOf(['a']), { a: a1 });
    const config: SupervisorConfig = {
      apiUrl: api.url,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: 'generic-amd64',
      dockerHost: env.deviceDockerHost,
      localApiPort: 0,
    };
    const dataDir = await makeDataDir(config);
    dataDirs.push(dataDir);
    device = new SupervisorProcess(dataDir, {
      SKIFF_POLL_INTERVAL_MS: String(TEN_MINUTES_MS),
      SKIFF_REPORT_INTERVAL_MS: '200',
      SKIFF_METRICS_INTERVAL_MS: '1000',
    });
    const p = device;
    const uuid = await eventually(
      'the device to pick its uuid',
      20_000,
      async () => (JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig).uuid,
    );
    const converged = (releaseId: string) => async () => {
      const d = await api.device(uuid);
      return d.lastReport?.updateStatus === 'converged' && d.lastReport.releaseId === releaseId ? d : undefined;
    };
    await eventually('release 1 converged', 60_000, converged(release1.id));
    await eventually('the push channel to be open', 20_000, async () =>
      p.hasLogged('push channel open') ? true : undefined,
    );
    const pollsBefore = api.requestsTo('GET', paths.target(uuid)).length;

    // A new ready release, then a pin back: each reaches the device through the channel, not the 10 minute poll.
    const t1 = Date.now();
    const release2 = await api.createRelease(fleet.name, composeOf(['a']), { a: a2 });
    const plan2 = await eventually('a plan for release 2', 10_000, async () => firstPlan(p, release2.id, t1), 20);
    const latency2 = Number(plan2.time) - t1;
    await eventually('release 2 converged', 60_000, converged(release2.id));

    const t2 = Date.now();
    await api.admin.pin(fleet.name, release1.version);
    const plan1 = await eventually(
      'a plan for the pinned release 1',
      10_000,
      async () => firstPlan(p, release1.id, t2),
      20,
    );
    const latency1 = Number(plan1.time) - t2;
    console.log(`      pin -> first step: ${latency1} ms; new release -> first step: ${latency2} ms`);
    assert.ok(latency1 < 2_000, `pin to first step took ${latency1} ms`);
    assert.ok(latency2 < 2_000, `new release to first step took ${latency2} ms`);
    assert.ok(p.hasLogged('pushed: target changed'));
    // Two changes cost two polls (one each), far from the ten minutes the interval would take.
    assert.equal(api.requestsTo('GET', paths.target(uuid)).length - pollsBefore, 2);
    assert.ok(api.requestsTo('GET', eventPaths.events(uuid)).length <= 1, 'the channel was not reopened');

    // Reports: the first is full, later ones partial and merged by the API into the one it holds.
    const stored = await eventually('release 1 converged again', 60_000, converged(release1.id));
    assert.equal(stored.lastReport?.targetReleaseId, release1.id);
    assert.deepEqual(
      stored.lastReport?.services.map((s) => [s.name, s.state, s.image]),
      [['a', 'running', a1]],
    );
    assert.ok(stored.lastReport?.metrics !== undefined, 'metrics are in the merged report');
    assert.ok((stored.lastReport?.metrics?.memoryTotalBytes ?? 0) > 0);
    const reports = p.logs().filter((l) => l.msg === 'state reported');
    assert.equal(reports[0]?.fields, 'all');
    assert.ok(
      reports.slice(1).length >= 2 && reports.slice(1).every((l) => Array.isArray(l.fields)),
      JSON.stringify(reports),
    );
    assert.ok(
      reports.slice(1).every((l) => !(l.fields as string[]).includes('supervisorVersion')),
      'unchanged fields are not sent',
    );
    const refused = api.requests.filter((r) => r.path.startsWith(`/v1/device/${uuid}/`) && r.status >= 400);
    assert.deepEqual(refused, []);
  });
});

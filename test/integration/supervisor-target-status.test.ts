// What a device says right after it takes a new target, on the real device engine and registry: never the verdict
// the last pass reached on the target before ("converged" with the old release while the new one is not running).
// First the reconciler in this process, its target replaced in the middle of a pass; then a supervisor process
// against the real registry-api (in this process, over HTTP, SQLite) while an operator pins releases, with every
// report the API stores read back through the API.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { StateReport } from '../../protocol/state-report.js';
import { paths } from '../../protocol/http/paths.js';
import { createLogger } from '../../lib/logger.js';
import { etagOf } from '../../registry-api/http/etag.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { readCurrentState } from '../../supervisor/reconcile/current-state.js';
import { imagesOf } from '../../supervisor/plan/desired-state.js';
import { DockerEngine } from '../../supervisor/engine/engine.js';
import { Reconciler } from '../../supervisor/reconcile/reconciler.js';
import { buildReport } from '../../supervisor/online/reporter.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { cleanDevice, deviceDocker, eventually, managedContainers } from '../../harness/supervisor-device.js';
import { makeDataDir, printLogsIfFailed, SupervisorProcess } from '../../harness/supervisor-process.js';
import { serviceSpec, targetState } from '../../harness/supervisor-targets.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const log = createLogger('test-target-status', { test: 'integration' });
log.level = 'warn';
const engine = new DockerEngine(docker, log);

/** "Converged" is only true of the release the target names, and only while every service runs it. */
function misleading(report: StateReport): boolean {
  return report.updateStatus === 'converged' && report.releaseId !== report.targetReleaseId;
}

describe('status right after a new target: reconciler on a real engine', function () {
  this.timeout(120_000);

  beforeEach(async () => {
    await cleanDevice(docker);
  });

  after(async () => {
    await cleanDevice(docker, { volumes: true });
  });

  it('a target replaced during a pass gets no verdict of the old one, and the pass goes on to the new one', async () => {
    const [a1, a2] = await Promise.all([buildTestImage(env, { repo: 'a' }), buildTestImage(env, { repo: 'a' })]);
    const r1 = targetState([serviceSpec('a', a1)], { releaseId: 'r1' });
    const r2 = targetState([serviceSpec('a', a2)], { releaseId: 'r2' });
    const reconciler = new Reconciler({ engine, log, retry: { initialMs: 100, maxMs: 1_000 } });
    reconciler.setTarget(r1);
    await eventually(
      'r1 converged',
      60_000,
      async () => {
        await reconciler.runPass();
        return reconciler.currentStatus().phase === 'converged' ? true : undefined;
      },
      100,
    );

    // Every status the reconciler announces from here, and for each "converged" the report the engine then gives.
    const phases: string[] = [];
    const verdicts: Promise<StateReport>[] = [];
    reconciler.onStatus((status) => {
      phases.push(status.phase);
      if (status.phase !== 'converged') return;
      const target = reconciler.currentTarget();
      assert.ok(target !== null);
      verdicts.push(
        readCurrentState(engine, imagesOf(target)).then((current) =>
          buildReport({
            current,
            target,
            status,
            targetError: null,
            supervisorVersion: 'test',
            now: new Date(),
          }),
        ),
      );
    });
    // The pass takes r1 before its first await; r2 arrives while it reads the engine.
    const pass = reconciler.runPass();
    reconciler.setTarget(r2);
    assert.equal(reconciler.currentStatus().phase, 'pending');
    await pass;
    await eventually(
      'r2 converged',
      60_000,
      async () => {
        if (reconciler.currentStatus().phase === 'converged') return true;
        await reconciler.runPass();
        return undefined;
      },
      100,
    );

    assert.equal(phases[0], 'pending', phases.join(' '));
    assert.notEqual(phases[1], 'converged', `the first verdict after r2 arrived: ${phases.join(' ')}`);
    const reports = await Promise.all(verdicts);
    assert.ok(reports.length > 0);
    for (const report of reports)
      assert.ok(!misleading(report), `converged while not running the target: ${JSON.stringify(report)}`);
    assert.deepEqual(
      (await managedContainers(docker)).map((c) => [c.service, c.labels['io.skiff.release']]),
      [['a', 'r2']],
    );
  });
});

/** Every report the API stores for one device, in order, read back through GET /v1/devices/{uuid} as ops would. */
class StoredReports {
  readonly seen: Array<{ etag: string; report: StateReport }> = [];
  private stopped = false;
  private readonly loop: Promise<void>;
  private failure: unknown;

  constructor(
    private readonly api: ApiServer,
    private readonly uuid: string,
  ) {
    this.loop = this.watch().catch((err: unknown) => {
      this.failure = err;
    });
  }

  private async look(): Promise<void> {
    const report = (await this.api.device(this.uuid)).lastReport;
    if (report === null) return;
    const etag = etagOf(report);
    if (this.seen.at(-1)?.etag !== etag) this.seen.push({ etag, report });
  }

  private async watch(): Promise<void> {
    while (!this.stopped) {
      await this.look();
      // A report stays stored for at least the device's report interval (300 ms here): 15 ms between looks sees each.
      await new Promise((r) => setTimeout(r, 15));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    if (this.failure !== undefined) throw this.failure;
    await this.look();
  }
}

describe('status right after a pin: supervisor process and registry-api', function () {
  this.timeout(240_000);
  let api: ApiServer;
  let device: SupervisorProcess | undefined;
  const dataDirs: string[] = [];

  before(async () => {
    api = await ApiServer.start({ registry: env.registry });
    await cleanDevice(docker);
  });

  afterEach(async function () {
    printLogsIfFailed(this.currentTest, device);
    await device?.stop('SIGKILL');
    device = undefined;
  });

  after(async () => {
    await api.stop();
    await cleanDevice(docker);
    await Promise.all(dataDirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('the first report after a pin names the new target and is not "converged" with the old release', async () => {
    const [a1, a2] = await Promise.all([buildTestImage(env, { repo: 'a' }), buildTestImage(env, { repo: 'a' })]);
    const compose = 'services:\n  a:\n    build: ./a\n    restart: always\n';
    const fleet = await api.createFleet('pinned');
    const release1 = await api.createRelease(fleet.name, compose, { a: a1 });
    // Pinned, so pushing release 2 does not move the device: only the operator's pin does.
    await api.admin.pin(fleet.name, release1.version);
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
    // The push channel brings pins at once; metrics are sampled once, so nothing but the update changes reports.
    device = new SupervisorProcess(dataDir, {
      SKIFF_POLL_INTERVAL_MS: '600000',
      SKIFF_REPORT_INTERVAL_MS: '300',
      SKIFF_METRICS_INTERVAL_MS: '600000',
    });
    const p = device;
    const uuid = await eventually(
      'the device to pick its uuid',
      20_000,
      async () => (JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig).uuid,
    );
    const converged = (releaseId: string) => async () => {
      const report = (await api.device(uuid)).lastReport;
      return report?.updateStatus === 'converged' && report.releaseId === releaseId ? report : undefined;
    };
    await eventually('release 1 converged', 60_000, converged(release1.id));
    await eventually('the push channel to be open', 20_000, async () =>
      p.hasLogged('push channel open') ? true : undefined,
    );
    const release2 = await api.createRelease(fleet.name, compose, { a: a2 });

    /** Pins `to` and returns the reports the API stored from the last one before the device took it on. */
    const pinAndWatch = async (to: typeof release1): Promise<StateReport[]> => {
      const watch = new StoredReports(api, uuid);
      const patchesBefore = api.requestsTo('PATCH', paths.state(uuid)).length;
      await api.admin.pin(fleet.name, to.version);
      try {
        await eventually(`release ${to.version} converged`, 60_000, converged(to.id), 50);
      } finally {
        await watch.stop();
      }
      // Proof that no report slipped between two looks: every report the API took is one the watch saw.
      const seen = new Set(watch.seen.map((s) => s.etag));
      const stored = api
        .requestsTo('PATCH', paths.state(uuid))
        .slice(patchesBefore)
        .filter((r) => r.status === 204);
      assert.ok(stored.length > 0);
      for (const r of stored)
        assert.ok(r.etag !== null && seen.has(r.etag), `report ${r.etag ?? '?'} stored but not seen`);
      return watch.seen.map((s) => s.report);
    };

    for (const [from, to, expected] of [
      // a2 is not on the device yet: the first word on release 2 is that it downloads.
      [release1, release2, ['downloading']],
      // a1 still is (the release just replaced keeps its images): back to release 1 is applying, or done already.
      [release2, release1, ['applying', 'downloading']],
    ] as const) {
      const reports = await pinAndWatch(to);
      const trail = reports
        .map((r) => `${r.updateStatus} target=${r.targetReleaseId ?? '-'} running=${r.releaseId ?? '-'}`)
        .join('\n  ');
      const first = reports.findIndex((r) => r.targetReleaseId === to.id);
      assert.ok(first > 0, `no report before and after the pin to ${to.version}:\n  ${trail}`);
      assert.equal(reports[first - 1]?.targetReleaseId, from.id, trail);
      const firstAfter = reports[first];
      assert.ok(firstAfter !== undefined);
      assert.ok(
        (expected as readonly string[]).includes(firstAfter.updateStatus),
        `first report on ${to.version}:\n  ${trail}`,
      );
      assert.notEqual(firstAfter.releaseId, from.id, trail);
      for (const r of reports.slice(first))
        assert.ok(!misleading(r), `misleading report after the pin to ${to.version}:\n  ${trail}`);
    }
    const refused = api.requests.filter((r) => r.path.startsWith(`/v1/device/${uuid}/`) && r.status >= 400);
    assert.deepEqual(refused, []);
  });
});

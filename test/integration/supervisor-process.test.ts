// The supervisor as the device runs it: a process (node dist/supervisor/main.js) with a data dir, killed and
// restarted, offline or talking to an API over HTTP.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TargetState } from '../../protocol/target-state.js';
import { createLogger } from '../../lib/logger.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { desiredState } from '../../supervisor/desired-state.js';
import { DockerEngine } from '../../supervisor/engine.js';
import { Reconciler } from '../../supervisor/reconciler.js';
import { TargetStore } from '../../supervisor/target-store.js';
import { loadTestEnv } from '../support/env.js';
import { buildTestImage, SLOW_STOP_COMMAND } from '../support/images.js';
import { cleanDevice, deviceDocker, eventually, managedContainers, type RunningContainer } from '../support/supervisor-device.js';
import { FakeDeviceApi } from '../support/supervisor-fake-api.js';
import { makeDataDir as makeDir, SupervisorProcess } from '../support/supervisor-process.js';
import { serviceSpec, targetState, TEST_DEVICE_UUID } from '../support/supervisor-targets.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const log = createLogger('test-supervisor', { test: 'process' });
const engine = new DockerEngine(docker, log);

const dataDirs: string[] = [];

async function makeDataDir(config: SupervisorConfig): Promise<string> {
  const dir = await makeDir(config);
  dataDirs.push(dir);
  return dir;
}

/** Nothing listens there: the device is offline. */
const UNREACHABLE_API = 'http://127.0.0.1:9';

function deviceConfig(extra: Partial<SupervisorConfig> = {}): SupervisorConfig {
  return {
    apiUrl: UNREACHABLE_API,
    fleet: 'meters',
    provisioningKey: 'provisioning-key-0123456789',
    deviceType: 'raspberrypi4-64',
    uuid: TEST_DEVICE_UUID,
    dockerHost: env.deviceDockerHost,
    ...extra,
  };
}

async function convergeInProcess(target: TargetState): Promise<void> {
  const reconciler = new Reconciler({ engine, log });
  reconciler.setTarget(target);
  for (let pass = 0; pass < 20 && reconciler.currentStatus().phase !== 'converged'; pass++) {
    await reconciler.runPass();
    assert.notEqual(reconciler.currentStatus().phase, 'error', reconciler.currentStatus().error ?? '');
  }
  assert.equal(reconciler.currentStatus().phase, 'converged');
}

/** The engine runs exactly the target: one running container per service with the desired hash, nothing else. */
async function runsExactly(target: TargetState): Promise<RunningContainer[] | undefined> {
  const containers = await managedContainers(docker);
  const desired = desiredState(target).containers;
  const exact = containers.length === desired.length && desired.every((d) =>
    containers.some((c) => c.service === d.service && c.state === 'running' && c.labels['io.skiff.config-hash'] === d.configHash));
  return exact ? containers : undefined;
}

describe('supervisor process', function () {
  this.timeout(120_000);
  const processes: SupervisorProcess[] = [];
  const start = (dataDir: string, extraEnv: Record<string, string> = {}): SupervisorProcess => {
    const p = new SupervisorProcess(dataDir, { SKIFF_POLL_INTERVAL_MS: '300', SKIFF_REPORT_INTERVAL_MS: '200', ...extraEnv });
    processes.push(p);
    return p;
  };

  beforeEach(async () => {
    await cleanDevice(docker);
  });

  afterEach(async function () {
    const running = processes.splice(0);
    if (this.currentTest?.state === 'failed') {
      for (const p of running) console.error(`--- supervisor log ---\n${p.logText()}`);
    }
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
  });

  after(async () => {
    await cleanDevice(docker);
    await Promise.all(dataDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it('offline, killed with SIGKILL in the middle of an update, converges after a restart', async () => {
    const [a1, a2, slow1, slow2] = await Promise.all([
      buildTestImage(env, { repo: 'a' }), buildTestImage(env, { repo: 'a' }),
      buildTestImage(env, { repo: 'slow' }), buildTestImage(env, { repo: 'slow' }),
    ]);
    // slow ignores SIGTERM, so the update sits in its stop phase for the whole grace period.
    const r1 = targetState([
      serviceSpec('a', a1),
      serviceSpec('slow', slow1, { command: SLOW_STOP_COMMAND, stopGracePeriodSeconds: 6 }),
    ], { releaseId: 'r1' });
    const r2 = targetState([serviceSpec('a', a2), serviceSpec('slow', slow2)], { releaseId: 'r2' });
    await convergeInProcess(r1);
    const old = await managedContainers(docker);

    const dataDir = await makeDataDir(deviceConfig());
    await new TargetStore(dataDir, TEST_DEVICE_UUID).save(r2);
    const first = start(dataDir);
    const oldA = old.find((c) => c.service === 'a');
    assert.ok(oldA);
    await eventually('the old a container to be stopped', 30_000, async () => {
      const now = await managedContainers(docker);
      return now.some((c) => c.id === oldA.id && c.state === 'running') ? undefined : true;
    }, 50);
    assert.equal(await first.stop('SIGKILL'), null);

    const midUpdate = await managedContainers(docker);
    assert.equal(await runsExactly(r2), undefined, `expected an unfinished update, found ${JSON.stringify(midUpdate)}`);
    assert.ok(midUpdate.some((c) => c.labels['io.skiff.release'] === 'r1'), 'r1 containers are still there');

    const second = start(dataDir);
    const final = await eventually('r2 to run', 60_000, () => runsExactly(r2));
    assert.ok(final.every((c) => !old.some((o) => o.id === c.id)));
    assert.ok(second.hasLogged('persisted target loaded'));

    // SIGTERM ends the supervisor, not the device's work.
    assert.equal(await second.stop('SIGTERM'), 0);
    assert.deepEqual(await managedContainers(docker), final);
  });

  it('leaves running containers alone when the persisted target is invalid or torn', async () => {
    const a = await buildTestImage(env, { repo: 'a' });
    const r1 = targetState([serviceSpec('a', a)], { releaseId: 'r1' });
    await convergeInProcess(r1);
    const before = await managedContainers(docker);

    const broken = { ...r1, release: { id: 'r2', version: 'r2' }, services: [{ ...r1.services[0], image: 'busybox:latest' }] };
    const invalidDir = await makeDataDir(deviceConfig());
    await writeFile(path.join(invalidDir, 'target.json'), JSON.stringify(broken));
    const tornDir = await makeDataDir(deviceConfig());
    await writeFile(path.join(tornDir, 'target.json'), JSON.stringify(targetState([], { releaseId: 'r3' })).slice(0, 40));

    const invalid = start(invalidDir);
    const torn = start(tornDir);
    for (const p of [invalid, torn]) {
      await eventually('the refusal to be logged', 15_000, async () => (p.hasLogged('persisted target refused; running containers are left alone') ? true : undefined));
    }
    assert.match(invalid.logText(), /services\/0\/image/);
    assert.match(torn.logText(), /is not JSON/);
    // Give a wrongly acting supervisor the time to do damage, then look.
    await new Promise((r) => setTimeout(r, 2_000));
    assert.deepEqual(await managedContainers(docker), before);
    assert.equal(await invalid.stop('SIGTERM'), 0);
    assert.equal(await torn.stop('SIGTERM'), 0);
  });

  describe('with an API', () => {
    const api = new FakeDeviceApi();
    let apiUrl: string;

    before(async () => {
      apiUrl = await api.listen();
    });

    after(async () => {
      await api.close();
    });

    it('registers, follows its target from the API and reports what it runs', async () => {
      const [a1, b1, b2] = await Promise.all([
        buildTestImage(env, { repo: 'a' }), buildTestImage(env, { repo: 'b' }), buildTestImage(env, { repo: 'b' }),
      ]);
      let served = (uuid: string): TargetState =>
        targetState([serviceSpec('a', a1), serviceSpec('b', b1)], { releaseId: 'r1', uuid });
      api.target = (uuid) => served(uuid);
      // No uuid and no device key: the device names itself and registers.
      const config: SupervisorConfig = { ...deviceConfig({ apiUrl, name: 'meter-north-1' }), uuid: undefined };
      const dataDir = await makeDataDir(config);
      start(dataDir);

      const report1 = await eventually('a converged r1 report', 30_000, async () => {
        const last = api.lastReport();
        return last?.updateStatus === 'converged' && last.releaseId === 'r1' ? last : undefined;
      });
      const saved = JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig;
      assert.equal(saved.deviceKey, api.deviceKey);
      assert.match(saved.uuid ?? '', /^[0-9a-f-]{36}$/);
      assert.deepEqual(report1.services.map((s) => [s.name, s.state, s.releaseId]), [['a', 'running', 'r1'], ['b', 'running', 'r1']]);
      assert.equal(report1.targetReleaseId, 'r1');
      assert.ok(api.reports.some((r) => r.updateStatus === 'downloading'), 'the download phase was reported');
      await eventually('a poll answered 304', 10_000, async () => (api.count('GET', '/target', 304) > 0 ? true : undefined));
      const before = await managedContainers(docker);

      served = (uuid) => targetState([serviceSpec('a', a1), serviceSpec('b', b2)], { releaseId: 'r2', uuid });
      await eventually('a converged r2 report', 30_000, async () => {
        const last = api.lastReport();
        return last?.updateStatus === 'converged' && last.releaseId === 'r2' ? last : undefined;
      });
      const after = await managedContainers(docker);
      assert.equal(after.find((c) => c.service === 'a')?.id, before.find((c) => c.service === 'a')?.id);
      const persisted = JSON.parse(await readFile(path.join(dataDir, 'target.json'), 'utf8')) as TargetState;
      assert.equal(persisted.release?.id, 'r2');
      assert.deepEqual(api.invalidReports, []);
    });

    it('refuses an invalid target from the API, keeps running and says why', async () => {
      const a = await buildTestImage(env, { repo: 'a' });
      const r1 = targetState([serviceSpec('a', a)], { releaseId: 'r1' });
      await convergeInProcess(r1);
      const before = await managedContainers(docker);
      const dataDir = await makeDataDir(deviceConfig({ apiUrl, deviceKey: api.deviceKey }));
      await new TargetStore(dataDir, TEST_DEVICE_UUID).save(r1);
      // A target whose service depends on itself: valid JSON schema-wise, impossible to run.
      api.target = () => targetState([serviceSpec('a', a, { dependsOn: { a: 'service_started' } })], { releaseId: 'r2' });
      const polledBefore = api.count('GET', '/target');

      start(dataDir);
      const report = await eventually('a report with the refusal', 30_000, async () => {
        const last = api.lastReport();
        return last?.error?.includes('dependency cycle') === true && last.releaseId === 'r1' ? last : undefined;
      });
      assert.equal(report.updateStatus, 'error');
      assert.equal(report.targetReleaseId, 'r1');
      assert.deepEqual(report.services.map((s) => [s.name, s.state, s.releaseId]), [['a', 'running', 'r1']]);
      assert.match(report.error ?? '', /target state from the API is invalid/);
      await eventually('more polls', 10_000, async () => (api.count('GET', '/target') > polledBefore + 2 ? true : undefined));
      assert.deepEqual(await managedContainers(docker), before);
      const persisted = JSON.parse(await readFile(path.join(dataDir, 'target.json'), 'utf8')) as TargetState;
      assert.equal(persisted.release?.id, 'r1');
    });
  });
});

// A service stopped through the device-local API stays stopped (balena-supervisor issues 1549, 1668): across
// reconcile passes, a restart of the supervisor and a new release, on the environment's real engine, until it is
// started through the local API again. A real supervisor process, offline.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { localPaths, type LocalState } from '../../protocol/local-api.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { HELD_SERVICES_FILE } from '../../supervisor/reconcile/held-services.js';
import { LOCAL_API_KEY_FILE } from '../../supervisor/local-api/key.js';
import { TargetStore } from '../../supervisor/target/store.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage, PROMPT_STOP_COMMAND } from '../../harness/images.js';
import {
  cleanDevice,
  deviceDocker,
  eventually,
  managedContainers,
  type RunningContainer,
} from '../../harness/supervisor-device.js';
import {
  makeDataDir,
  offlineDeviceConfig,
  printLogsIfFailed,
  SupervisorProcess,
} from '../../harness/supervisor-process.js';
import { serviceSpec, signedTarget, targetState, TEST_DEVICE_UUID } from '../../harness/supervisor-targets.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const base = `http://127.0.0.1:${env.deviceApiPort}`;
const PROCESS_ENV = { SKIFF_REPORT_INTERVAL_MS: '200', SKIFF_RESYNC_INTERVAL_MS: '250' };

describe('services held stopped through the device-local API', function () {
  this.timeout(180_000);
  let dataDir: string;
  let device: SupervisorProcess | undefined;
  let key = '';
  const call = async (method: string, pathname: string): Promise<Response> =>
    fetch(`${base}${pathname}`, { method, headers: { authorization: `Bearer ${key}` } });
  const state = async (): Promise<LocalState> => (await (await call('GET', localPaths.state)).json()) as LocalState;
  const containersOf = async (service: string): Promise<RunningContainer[]> =>
    (await managedContainers(docker)).filter((c) => c.service === service);
  /** Waits for `count` more passes that found nothing to do, then returns a's containers. */
  const afterPasses = async (count: number): Promise<RunningContainer[]> => {
    const passes = (): number => device?.logs().filter((l) => l.msg === 'nothing to do').length ?? 0;
    const from = passes();
    await eventually(`${count} reconcile passes`, 20_000, async () => (passes() >= from + count ? true : undefined));
    return containersOf('a');
  };
  const heldFile = async (): Promise<unknown> =>
    JSON.parse(await readFile(path.join(dataDir, HELD_SERVICES_FILE), 'utf8'));
  const restart = async (): Promise<void> => {
    assert.equal(await device?.stop('SIGTERM'), 0);
    device = new SupervisorProcess(dataDir, PROCESS_ENV);
    await eventually('the local API after a restart', 20_000, async () =>
      (await fetch(`${base}${localPaths.ping}`).catch(() => undefined))?.status === 200 ? true : undefined,
    );
  };

  before(async () => {
    await cleanDevice(docker);
  });

  afterEach(async function () {
    printLogsIfFailed(this.currentTest, device);
  });

  after(async () => {
    await device?.stop('SIGKILL');
    await cleanDevice(docker);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps a stopped restart-always service down across passes, restarts and a release, until started', async () => {
    const [a, b] = await Promise.all([
      buildTestImage(env, { repo: 'held-a', cmd: PROMPT_STOP_COMMAND }),
      buildTestImage(env, { repo: 'held-b', cmd: PROMPT_STOP_COMMAND }),
    ]);
    const config: SupervisorConfig = offlineDeviceConfig(env, { localApiPort: env.deviceApiPort });
    dataDir = await makeDataDir(config);
    const store = new TargetStore(dataDir, TEST_DEVICE_UUID);
    // Both restart: always (serviceSpec's default): the policy under which a stopped container used to come back.
    await store.save(signedTarget(targetState([serviceSpec('a', a), serviceSpec('b', b)], { releaseId: 'r1' })));
    device = new SupervisorProcess(dataDir, PROCESS_ENV);
    await eventually('the local API', 20_000, async () =>
      (await fetch(`${base}${localPaths.ping}`).catch(() => undefined))?.status === 200 ? true : undefined,
    );
    key = (await readFile(path.join(dataDir, LOCAL_API_KEY_FILE), 'utf8')).trim();
    await eventually('r1 converged', 60_000, async () => {
      const s = await state();
      return s.report.updateStatus === 'converged' && s.report.releaseId === 'r1' ? true : undefined;
    });
    const [aFirst] = await containersOf('a');
    assert.ok(aFirst !== undefined && aFirst.state === 'running');

    const stopped = await call('POST', localPaths.service('a', 'stop'));
    assert.equal(stopped.status, 200);
    assert.deepEqual(await stopped.json(), { service: 'a', containerId: aFirst.id });
    assert.deepEqual(await heldFile(), { services: ['a'] });

    // The control: b, stopped behind the supervisor's back, is brought back by the same passes that leave a down.
    const [bFirst] = await containersOf('b');
    assert.ok(bFirst !== undefined);
    await docker.json('POST', `/containers/${bFirst.id}/stop?t=1`).catch(() => undefined);
    await eventually('b running again', 20_000, async () =>
      (await containersOf('b'))[0]?.state === 'running' ? true : undefined,
    );
    assert.deepEqual(
      (await afterPasses(5)).map((c) => [c.id, c.state]),
      [[aFirst.id, 'exited']],
    );
    const reported = await eventually('a reported held', 30_000, async () => {
      const s = await state();
      const service = s.report.services.find((x) => x.name === 'a');
      return service?.held === true && service.state === 'exited' ? s : undefined;
    });
    assert.equal(reported.report.updateStatus, 'converged');
    assert.equal(reported.report.services.find((x) => x.name === 'b')?.held, undefined);

    // A restart of the supervisor keeps the hold.
    await restart();
    assert.deepEqual(
      (await afterPasses(5)).map((c) => [c.id, c.state]),
      [[aFirst.id, 'exited']],
    );

    // A new release replaces a's container but does not start it, nor clear the hold.
    const r2 = targetState([serviceSpec('a', a, { environment: { RELEASE: '2' } }), serviceSpec('b', b)], {
      releaseId: 'r2',
    });
    await store.save(signedTarget(r2));
    await restart();
    const r2State = await eventually('r2 converged', 60_000, async () => {
      const s = await state().catch(() => undefined);
      return s?.report.updateStatus === 'converged' && s.report.releaseId === 'r2' ? s : undefined;
    });
    const [aSecond, ...more] = await afterPasses(5);
    assert.ok(aSecond !== undefined && aSecond.id !== aFirst.id, 'a was recreated for r2');
    assert.deepEqual(more, []);
    assert.equal(aSecond.state, 'created');
    assert.equal(aSecond.labels['io.skiff.release'], 'r2');
    assert.equal(r2State.report.services.find((x) => x.name === 'a')?.held, true);
    assert.deepEqual(await heldFile(), { services: ['a'] });

    // Start releases the hold, and the service runs and stays running.
    const started = await call('POST', localPaths.service('a', 'start'));
    assert.equal(started.status, 200);
    assert.deepEqual(await heldFile(), { services: [] });
    assert.deepEqual(
      (await afterPasses(3)).map((c) => [c.id, c.state]),
      [[aSecond.id, 'running']],
    );
    await eventually('a no longer reported held', 30_000, async () => {
      const service = (await state()).report.services.find((x) => x.name === 'a');
      return service?.state === 'running' && service.held === undefined ? true : undefined;
    });
  });

  it('runs every service when the held-services file is not valid', async () => {
    await call('POST', localPaths.service('a', 'stop'));
    await writeFile(path.join(dataDir, HELD_SERVICES_FILE), '{"services": "a"}');
    await restart();
    assert.deepEqual(
      (await afterPasses(2)).map((c) => c.state),
      ['running'],
    );
    assert.ok(
      device
        ?.logs()
        .some(
          (l) =>
            l.msg === 'held services refused; no service is held' &&
            /held-services\.json is invalid: \/services: must be array/.test(String(l.err)),
        ),
      device?.logText(),
    );
  });
});

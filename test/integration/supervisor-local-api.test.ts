// The device-local API of a real supervisor process, offline (the API unreachable), on the environment's device
// engine: health that does not depend on the network, state, service restart and logs, reboot through the
// configured command, and local mode (a compose file applied directly, kept across a restart, left again).
import assert from 'node:assert/strict';
import { readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { localPaths, type Health, type LocalState } from '../../protocol/local-api.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { LOCAL_API_KEY_FILE } from '../../supervisor/local-api/key.js';
import { TargetStore } from '../../supervisor/target/store.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import {
  cleanDevice,
  deviceDocker,
  eventually,
  inspectContainer,
  managedContainers,
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
const CHATTY = ['sh', '-c', 'echo "hello from $(hostname)"; trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'];

describe('device-local API', function () {
  this.timeout(180_000);
  let dataDir: string;
  let device: SupervisorProcess | undefined;
  let key: string;
  const call = async (method: string, pathname: string, body?: unknown, auth = true): Promise<Response> =>
    fetch(`${base}${pathname}`, {
      method,
      headers: {
        ...(auth ? { authorization: `Bearer ${key}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const state = async (): Promise<LocalState> => (await (await call('GET', localPaths.state)).json()) as LocalState;
  const running = async (service: string): Promise<string | undefined> =>
    (await managedContainers(docker)).find((c) => c.service === service && c.state === 'running')?.id;

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

  it('answers with the API unreachable: health, state, restart, logs, reboot, local mode', async () => {
    const [a, b] = await Promise.all([
      buildTestImage(env, { repo: 'a', cmd: CHATTY }),
      buildTestImage(env, { repo: 'b' }),
    ]);
    const config: SupervisorConfig = offlineDeviceConfig(env, { localApiPort: env.deviceApiPort });
    dataDir = await makeDataDir(config);
    const marker = path.join(dataDir, 'rebooted');
    const rebootScript = path.join(dataDir, 'reboot.sh');
    await writeFile(rebootScript, `#!/bin/sh\necho "$@" > '${marker}'\n`);
    await chmod(rebootScript, 0o755);
    await writeFile(
      path.join(dataDir, 'config.json'),
      JSON.stringify({ ...config, rebootCommand: [rebootScript, 'now'] }),
    );
    const fleetTarget = targetState([serviceSpec('a', a)], { releaseId: 'r1' });
    await new TargetStore(dataDir, TEST_DEVICE_UUID).save(signedTarget(fleetTarget));
    device = new SupervisorProcess(dataDir, { SKIFF_REPORT_INTERVAL_MS: '200' });

    const ping = await eventually('ping', 20_000, async () => {
      const r = await fetch(`${base}${localPaths.ping}`);
      return r.status === 200 ? r.text() : undefined;
    });
    assert.equal(ping, 'OK');
    key = (await readFile(path.join(dataDir, LOCAL_API_KEY_FILE), 'utf8')).trim();
    assert.equal((await stat(path.join(dataDir, LOCAL_API_KEY_FILE))).mode & 0o077, 0, 'the key file is private');

    // Healthy although the API cannot be reached.
    const health = await fetch(`${base}${localPaths.healthy}`);
    assert.equal(health.status, 200);
    assert.deepEqual((await health.json()) as Health, { healthy: true, checks: { engine: null, supervisor: null } });

    assert.equal((await call('GET', localPaths.state, undefined, false)).status, 401);
    key = `${key}x`;
    assert.equal((await call('GET', localPaths.state)).status, 401, 'a wrong key is refused');
    key = key.slice(0, -1);
    const first = await eventually('a running', 60_000, async () => {
      const s = await state();
      return s.report.updateStatus === 'converged' && s.report.releaseId === 'r1' ? s : undefined;
    });
    assert.equal(first.uuid, TEST_DEVICE_UUID);
    assert.equal(first.localMode, false);
    assert.equal(first.pushConnected, false);
    assert.notEqual(first.apiReachable, true);

    // Restart keeps the container and starts it anew.
    const aId = await running('a');
    assert.ok(aId);
    const startedBefore = (await inspectContainer(docker, aId)).State.StartedAt;
    const restarted = await call('POST', localPaths.service('a', 'restart'));
    assert.equal(restarted.status, 200);
    assert.deepEqual(await restarted.json(), { service: 'a', containerId: aId });
    const after = await inspectContainer(docker, aId);
    assert.equal(after.State.Running, true);
    assert.notEqual(after.State.StartedAt, startedBefore);
    assert.equal((await call('POST', localPaths.service('nope', 'restart'))).status, 404);

    // Logs: the line printed at each start, twice now.
    const logs = (await (await call('GET', `${localPaths.logs('a')}?tail=10`)).json()) as {
      text: string;
      stream: string;
    }[];
    assert.equal(
      logs.filter((l) => /^hello from /.test(l.text) && l.stream === 'stdout').length,
      2,
      JSON.stringify(logs),
    );

    // Reboot runs the configured command.
    const reboot = await call('POST', localPaths.reboot);
    assert.equal(reboot.status, 202);
    // The script's shell creates the file before it writes the line: an empty file is not the marker yet.
    const written = async (): Promise<string | undefined> =>
      (await readFile(marker, 'utf8').catch(() => '')) || undefined;
    assert.equal(await eventually('the reboot marker', 30_000, written), 'now\n');

    // Local mode: b from a compose file replaces the fleet's a, and stays across a restart.
    const bad = await call('PUT', localPaths.localTarget, {
      compose: 'services:\n  b:\n    build: ./b\n    ports: ["nope"]\n',
      images: { b },
    });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(await bad.json()), /services\.b\.ports/);
    const entered = await call('PUT', localPaths.localTarget, {
      compose: 'services:\n  b:\n    build: ./b\n',
      images: { b },
    });
    assert.equal(entered.status, 202);
    const { releaseId } = (await entered.json()) as { releaseId: string };
    assert.match(releaseId, /^local-[0-9a-f]{12}$/);
    await eventually('b alone running', 60_000, async () =>
      (await running('b')) !== undefined && (await running('a')) === undefined ? true : undefined,
    );
    const local = await eventually('local mode reported', 20_000, async () => {
      const s = await state();
      return s.localMode && s.report.releaseId === releaseId && s.report.localMode === true ? s : undefined;
    });
    assert.deepEqual(
      local.report.services.map((s) => [s.name, s.state]),
      [['b', 'running']],
    );

    assert.equal(await device.stop('SIGTERM'), 0);
    device = new SupervisorProcess(dataDir, { SKIFF_REPORT_INTERVAL_MS: '200' });
    await eventually('local mode after a restart', 30_000, async () => {
      const s = await state().catch(() => undefined);
      return s?.localMode === true && s.report.updateStatus === 'converged' && s.report.releaseId === releaseId
        ? true
        : undefined;
    });
    assert.ok(
      (await running('b')) !== undefined && (await running('a')) === undefined,
      'the restart kept the local target',
    );

    // Leaving local mode brings the fleet target back.
    assert.equal((await call('DELETE', localPaths.localTarget)).status, 204);
    await eventually('a back, b gone', 60_000, async () =>
      (await running('a')) !== undefined && (await running('b')) === undefined ? true : undefined,
    );
    assert.equal((await state()).localMode, false);
    assert.equal((await call('DELETE', localPaths.localTarget)).status, 404);
  });
});

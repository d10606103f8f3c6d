// Remote actions end to end: a real supervisor process managing the environment's device engine, the real
// registry-api (in this process, over HTTP) and the `skiff` CLI as a process. A restart asked with `skiff device
// restart` reaches the device through its push channel and restarts the very container; stop and start hold and
// release the service; a reboot runs the device's reboot command after its result left; a diagnostics bundle
// comes back from the device; an action asked while the device is offline runs when it returns, unless it expired.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeviceActionSchema, DiagnosticsBundleSchema, type DeviceAction } from '../../protocol/device-actions.js';
import { parse } from '../../protocol/validate.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import {
  cleanDevice,
  deviceDocker,
  eventually,
  execIn,
  inspectContainer,
  managedContainers,
} from '../../harness/supervisor-device.js';
import { makeDataDir, printLogsIfFailed, SupervisorProcess } from '../../harness/supervisor-process.js';
import { runSkiff } from '../../harness/skiff-process.js';

const env = loadTestEnv();
const docker = deviceDocker(env);

/** A service that lives until stopped, and stops at once on TERM. */
const SLEEPER = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'];

describe('remote actions: skiff device restart|stop|start|reboot|diagnose against a real device', function () {
  this.timeout(300_000);
  let api: ApiServer;
  let device: SupervisorProcess | undefined;
  let dataDir = '';
  let work = '';
  let uuid = '';
  let shortId = '';

  const sleeper = async (): Promise<{ id: string; running: boolean; startedAt: string }> => {
    const found = (await managedContainers(docker)).find((c) => c.service === 'sleeper');
    if (found === undefined) throw new Error('no sleeper container on the device');
    const details = await inspectContainer(docker, found.id);
    return { id: found.id, running: details.State.Running, startedAt: details.State.StartedAt };
  };
  const startDevice = async (): Promise<SupervisorProcess> => {
    const p = new SupervisorProcess(dataDir, { SKIFF_REPORT_INTERVAL_MS: '200' });
    device = p;
    await eventually('the push channel to be open', 30_000, async () =>
      p.hasLogged('push channel open') ? true : undefined,
    );
    return p;
  };
  const actionJson = (stdout: string): DeviceAction => parse(DeviceActionSchema, JSON.parse(stdout), 'the action');

  before(async () => {
    api = await ApiServer.start({ registry: env.registry });
    await cleanDevice(docker);
    work = await mkdtemp(path.join(tmpdir(), 'skiff-actions-'));
    const image = await buildTestImage(env, { repo: 'sleeper', cmd: SLEEPER });
    const fleet = await api.createFleet('acted');
    const release = await api.createRelease(
      fleet.name,
      'services:\n  sleeper:\n    build: ./sleeper\n    restart: always\n',
      { sleeper: image },
    );
    const config: SupervisorConfig = {
      apiUrl: api.url,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: 'generic-amd64',
      dockerHost: env.deviceDockerHost,
      localApiPort: 0,
      // The test's stand-in for a reboot: proof that the command ran, without taking the machine down.
      rebootCommand: ['sh', '-c', `touch '${path.join(work, 'rebooted')}'`],
    };
    dataDir = await makeDataDir(config);
    await startDevice();
    uuid = await eventually(
      'the device to pick its uuid',
      20_000,
      async () => (JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig).uuid,
    );
    const running = await eventually('the release to run', 120_000, async () => {
      const d = await api.device(uuid);
      return d.lastReport?.updateStatus === 'converged' && d.lastReport.releaseId === release.id ? d : undefined;
    });
    shortId = running.shortId ?? uuid;
  });

  afterEach(function () {
    printLogsIfFailed(this.currentTest, device);
  });

  after(async () => {
    await device?.stop('SIGKILL');
    await api?.stop();
    await cleanDevice(docker);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('restarts the service: the same container, started again, and the action audited', async () => {
    const before = await sleeper();
    assert.equal(before.running, true);
    const run = await runSkiff(api, 'device', 'restart', shortId, 'sleeper', '--json', '--timeout', '60');
    assert.equal(run.code, 0, run.stderr);
    const action = actionJson(run.stdout);
    assert.equal(action.status, 'succeeded', action.message ?? '');
    assert.match(action.message ?? '', /restarted service 'sleeper'/);
    const after = await sleeper();
    assert.equal(after.id, before.id, 'restarted, not replaced');
    assert.equal(after.running, true);
    assert.ok(
      Date.parse(after.startedAt) > Date.parse(before.startedAt),
      `started again (${before.startedAt} -> ${after.startedAt})`,
    );
    const audit = await api.admin.listAudit({ device: uuid });
    const asked = audit.find((e) => e.action === 'device.action' && e.detail.id === action.id);
    const answered = audit.find((e) => e.action === 'device.action.result' && e.detail.id === action.id);
    assert.ok(asked, 'the request is in the audit log');
    assert.equal(asked.actor, 'admin');
    assert.ok(answered, "the device's result is in the audit log");
    assert.equal(answered.detail.status, 'succeeded');
  });

  it('stops the service (held) and starts it again', async () => {
    const stop = await runSkiff(api, 'device', 'stop', shortId, 'sleeper');
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, /stop sleeper on device .*: succeeded/);
    assert.equal((await sleeper()).running, false);
    await eventually('the report to show the service held', 20_000, async () => {
      const d = await api.device(uuid);
      return d.lastReport?.services.find((s) => s.name === 'sleeper')?.held === true ? true : undefined;
    });
    const start = await runSkiff(api, 'device', 'start', shortId, 'sleeper');
    assert.equal(start.code, 0, start.stderr);
    assert.equal((await sleeper()).running, true);
  });

  it('fails, and says why, for a service the device does not run', async () => {
    const run = await runSkiff(api, 'device', 'restart', shortId, 'nonesuch');
    assert.equal(run.code, 1);
    assert.match(run.stderr, /no container of service 'nonesuch'/);
  });

  it('collects a diagnostics bundle on the device and downloads it', async () => {
    const file = path.join(work, 'diagnostics.json');
    const run = await runSkiff(api, 'device', 'diagnose', shortId, '-o', file);
    assert.equal(run.code, 0, run.stderr);
    const bundle = parse(DiagnosticsBundleSchema, JSON.parse(await readFile(file, 'utf8')), 'the bundle');
    assert.equal(bundle.uuid, uuid);
    assert.ok('ServerVersion' in bundle.engine && typeof bundle.engine.ServerVersion === 'string', 'engine info');
    assert.ok(bundle.memory.totalBytes > 0);
    assert.ok(
      bundle.disks.some((d) => 'freeBytes' in d && d.path === dataDir),
      'the data dir file system',
    );
    assert.ok(
      'lines' in bundle.kernel || /cannot be read/.test(bundle.kernel.unavailable),
      'kernel messages or why not',
    );
    const reachedApi = bundle.connectivity.find((c) => c.target === 'api');
    assert.equal(reachedApi?.status, 200);
    const reachedRegistry = bundle.connectivity.find((c) => c.target === 'registry');
    assert.ok(reachedRegistry?.status !== null && reachedRegistry?.status !== undefined, 'the registry answered');
    // Same machine, same clock: the offset is within the Date header's second and the round trip.
    assert.ok(bundle.clock.offsetMs !== null && Math.abs(bundle.clock.offsetMs) <= 2_000, `${bundle.clock.offsetMs}`);
    // No secret leaves the device.
    const text = JSON.stringify(bundle);
    const config = JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig;
    assert.ok(config.deviceToken !== undefined);
    assert.ok(!text.includes(config.deviceToken), 'no device token in the bundle');
    assert.equal(bundle.config.uuid, uuid);
    assert.equal(bundle.config.deviceToken, undefined);
  });

  it("runs the reboot command once the device's result left", async () => {
    const run = await runSkiff(api, 'device', 'reboot', shortId);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /reboot on device .*: succeeded \(rebooting/);
    await eventually('the reboot command to run', 30_000, async () =>
      (await stat(path.join(work, 'rebooted')).catch(() => null)) === null ? undefined : true,
    );
  });

  it('reports the meter serial its meter reader announced in the service directory', async () => {
    const { id } = await sleeper();
    // What compose-templates/meter-fleet/meter-reader/announce.mjs writes, from inside the container.
    await execIn(docker, id, [
      'sh',
      '-c',
      'printf "E0043007001234567\\n" > /run/skiff/lock/meter-serial.tmp && mv /run/skiff/lock/meter-serial.tmp /run/skiff/lock/meter-serial',
    ]);
    const reported = await eventually('the serial in a report', 60_000, async () => {
      const d = await api.device(uuid);
      return d.reportedMeterSerial;
    });
    assert.equal(reported, 'E0043007001234567');
  });

  it('an action for an offline device runs when it returns, one that expired meanwhile never does', async () => {
    await device?.stop('SIGTERM');
    const expiring = await runSkiff(api, 'device', 'stop', shortId, 'sleeper', '--no-wait', '--ttl', '10', '--json');
    assert.equal(expiring.code, 0, expiring.stderr);
    const stale = actionJson(expiring.stdout);
    assert.equal(stale.status, 'pending');
    await eventually('the stop to expire', 30_000, async () => {
      const a = await api.admin.getDeviceAction(uuid, stale.id);
      return a.status === 'expired' ? a : undefined;
    });
    const before = await sleeper();
    const waiting = await runSkiff(api, 'device', 'restart', shortId, 'sleeper', '--no-wait', '--json');
    assert.equal(waiting.code, 0, waiting.stderr);
    const pending = actionJson(waiting.stdout);
    assert.equal(pending.status, 'pending');

    await startDevice();
    const done = await eventually('the restart to run once the device is back', 60_000, async () => {
      const a = await api.admin.getDeviceAction(uuid, pending.id);
      return a.status === 'succeeded' || a.status === 'failed' ? a : undefined;
    });
    assert.equal(done.status, 'succeeded', done.message ?? '');
    const after = await sleeper();
    assert.equal(after.running, true, 'the expired stop did not run');
    assert.ok(Date.parse(after.startedAt) > Date.parse(before.startedAt));
    assert.equal((await api.admin.getDeviceAction(uuid, stale.id)).status, 'expired');
  });
});

// A release that does not do its job on a device is rolled back by the device itself, to its last good release,
// on the environment's real engine with real supervisor processes: a crash-looping release while the API cannot be
// reached (reported with its reason once it can), a release whose service reports health below its release's
// minimum (after its deadline, and through a power cut in the middle of the rollback), and a healthy release kept.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { localPaths, type LocalState } from '../../protocol/local-api.js';
import type { TargetState } from '../../protocol/target-state.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { APP_RELEASE_FILE } from '../../supervisor/app-health/watch.js';
import { HEALTH_DEADLINE_LABEL, HEALTH_MIN_LABEL } from '../../supervisor/app-health/declaration.js';
import { LOCAL_API_KEY_FILE } from '../../supervisor/local-api/key.js';
import { TargetStore } from '../../supervisor/target/store.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { cleanDevice, deviceDocker, eventually, managedContainers } from '../../harness/supervisor-device.js';
import {
  makeDataDir,
  offlineDeviceConfig,
  printLogsIfFailed,
  SupervisorProcess,
  type LogLine,
} from '../../harness/supervisor-process.js';
import { serviceSpec, signedTarget, targetState, TEST_DEVICE_UUID } from '../../harness/supervisor-targets.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const PROCESS_ENV = {
  SKIFF_REPORT_INTERVAL_MS: '200',
  SKIFF_RESYNC_INTERVAL_MS: '500',
  SKIFF_APP_WATCH_INTERVAL_MS: '300',
};
/** Crashes a second after it starts: under `restart: always` the engine restarts it again and again. */
const CRASH_COMMAND = ['sh', '-c', 'sleep 1; exit 3'];

/** A TCP link to the API that can be cut (every connection dropped, new ones refused) and restored. */
class CuttableLink {
  private readonly sockets = new Set<net.Socket>();
  private open = true;
  /** Connections refused while cut: the device's attempts to reach the API. */
  refused = 0;

  private constructor(private readonly server: net.Server) {}

  static async to(url: string): Promise<CuttableLink> {
    const upstream = new URL(url);
    let link: CuttableLink | undefined;
    const server = net.createServer((client) => {
      if (link === undefined || !link.open) {
        if (link !== undefined) link.refused++;
        client.destroy();
        return;
      }
      const remote = net.connect(Number(upstream.port), upstream.hostname);
      const pair = [client, remote];
      for (const socket of pair) {
        link.sockets.add(socket);
        socket.on('error', () => {
          for (const s of pair) s.destroy();
        });
        socket.on('close', () => {
          link?.sockets.delete(socket);
          for (const s of pair) s.destroy();
        });
      }
      client.pipe(remote).pipe(client);
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    link = new CuttableLink(server);
    return link;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  cut(): void {
    this.open = false;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.open = true;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function composeOf(command: string[] | null, labels: Record<string, string>): string {
  return [
    'services:',
    '  a:',
    '    build: ./a',
    '    restart: always',
    ...(command === null ? [] : [`    command: ${JSON.stringify(command)}`]),
    ...(Object.keys(labels).length === 0
      ? []
      : ['    labels:', ...Object.entries(labels).map(([k, v]) => `      ${k}: "${v}"`)]),
    '',
  ].join('\n');
}

function logged(device: SupervisorProcess, msg: string, release: string): LogLine | undefined {
  return device.logs().find((l) => l.msg === msg && l.release === release);
}

/** The service a's containers as the engine has them now. */
async function containersOfA(): Promise<{ id: string; state: string; release: string | undefined }[]> {
  return (await managedContainers(docker))
    .filter((c) => c.service === 'a')
    .map((c) => ({ id: c.id, state: c.state, release: c.labels['io.skiff.release'] }));
}

describe('application rollback on the device', function () {
  this.timeout(300_000);
  let device: SupervisorProcess | undefined;
  const dataDirs: string[] = [];

  beforeEach(async () => {
    await cleanDevice(docker);
  });

  afterEach(async function () {
    printLogsIfFailed(this.currentTest, device);
    await device?.stop('SIGKILL');
    device = undefined;
  });

  after(async () => {
    await cleanDevice(docker);
    await Promise.all(dataDirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('rolls a crash-looping release back while the API is unreachable, and reports why once it is back', async () => {
    const api = await ApiServer.start({ registry: env.registry });
    const link = await CuttableLink.to(api.url);
    try {
      const [good, crashing] = await Promise.all([
        buildTestImage(env, { repo: 'rollback-good' }),
        buildTestImage(env, { repo: 'rollback-crash', cmd: CRASH_COMMAND }),
      ]);
      const fleet = await api.createFleet('rollback');
      const r1 = await api.createRelease(fleet.name, composeOf(null, {}), { a: good });
      const config: SupervisorConfig = {
        apiUrl: link.url,
        fleet: fleet.name,
        provisioningKey: fleet.provisioningKey,
        deviceType: 'generic-amd64',
        dockerHost: env.deviceDockerHost,
        localApiPort: 0,
      };
      const dataDir = await makeDataDir(config);
      dataDirs.push(dataDir);
      device = new SupervisorProcess(dataDir, PROCESS_ENV);
      const d = device;
      const uuid = await eventually(
        'the device to pick its uuid',
        20_000,
        async () => (JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig).uuid,
      );
      await eventually('release 1 kept as the last good release', 60_000, async () =>
        logged(d, 'last good release saved', r1.id),
      );

      // Release 2 declares a deadline of 5 minutes: only its crash loop can make the device give it up this soon.
      const r2 = await api.createRelease(fleet.name, composeOf(null, { [HEALTH_DEADLINE_LABEL]: '5m' }), {
        a: crashing,
      });
      await eventually('release 2 accepted', 30_000, async () => logged(d, 'new target accepted', r2.id), 20);
      link.cut();
      const cutAt = Date.now();

      const rolling = await eventually('the rollback of release 2', 90_000, async () =>
        logged(d, 'release failed on this device: rolling back', r2.id),
      );
      assert.ok(Number(rolling.time) > cutAt, 'the device decided with the API cut off');
      assert.equal(rolling.to, r1.id);
      assert.match(String(rolling.reason), /^restart loop: a restarted 3 or more times within 10 minutes$/);
      await eventually('release 1 running again', 60_000, async () => {
        const a = await containersOfA();
        return a.length === 1 && a[0]?.state === 'running' && a[0].release === r1.id ? a : undefined;
      });
      await eventually('the rollback done', 30_000, async () => logged(d, 'rollback done', r2.id));
      await eventually('the device trying the API meanwhile', 60_000, async () =>
        link.refused > 0 ? true : undefined,
      );

      link.restore();
      const reported = await eventually('the rollback reported to the API', 90_000, async () => {
        const report = (await api.device(uuid)).lastReport;
        return report?.rollback !== undefined && report.releaseId === r1.id && report.updateStatus === 'converged'
          ? report
          : undefined;
      });
      assert.equal(reported.rollback?.fromReleaseId, r2.id);
      assert.equal(reported.rollback?.toReleaseId, r1.id);
      assert.match(reported.rollback?.reason ?? '', /restart loop/);
      assert.ok(Date.parse(reported.rollback?.at ?? '') >= cutAt, 'decided while the API was cut off');

      // The target still names release 2: the device does not try it again.
      const record = JSON.parse(await readFile(path.join(dataDir, APP_RELEASE_FILE), 'utf8')) as { state: string };
      assert.equal(record.state, 'rolled-back');
      const plansBefore = d.logs().filter((l) => l.msg === 'applying plan' && l.release === r2.id).length;
      const passes = d.logs().filter((l) => l.msg === 'nothing to do').length;
      await eventually('5 more reconcile passes', 30_000, async () =>
        d.logs().filter((l) => l.msg === 'nothing to do').length >= passes + 5 ? true : undefined,
      );
      assert.equal(d.logs().filter((l) => l.msg === 'applying plan' && l.release === r2.id).length, plansBefore);
      assert.deepEqual(
        (await containersOfA()).map((c) => [c.state, c.release]),
        [['running', r1.id]],
      );
    } finally {
      await device?.stop('SIGKILL');
      await link.close();
      await api.stop();
    }
  });

  describe('offline, on its declared health', () => {
    let dataDir: string;
    let store: TargetStore;
    let key = '';
    const base = `http://127.0.0.1:${env.deviceApiPort}`;
    const state = async (): Promise<LocalState> =>
      (await (
        await fetch(`${base}${localPaths.state}`, { headers: { authorization: `Bearer ${key}` } })
      ).json()) as LocalState;
    const start = async (): Promise<SupervisorProcess> => {
      const p = new SupervisorProcess(dataDir, PROCESS_ENV);
      device = p;
      await eventually('the local API', 20_000, async () =>
        (await fetch(`${base}${localPaths.ping}`).catch(() => undefined))?.status === 200 ? true : undefined,
      );
      key = (await readFile(path.join(dataDir, LOCAL_API_KEY_FILE), 'utf8')).trim();
      return p;
    };
    const runs = (target: TargetState) => async () => {
      const s = await state().catch(() => undefined);
      return s?.report.updateStatus === 'converged' && s.report.releaseId === target.release?.id ? s : undefined;
    };

    before(async () => {
      const config: SupervisorConfig = offlineDeviceConfig(env, { localApiPort: env.deviceApiPort });
      dataDir = await makeDataDir(config);
      dataDirs.push(dataDir);
      store = new TargetStore(dataDir, TEST_DEVICE_UUID);
    });

    it('rolls back a release whose service reports health below its minimum after its deadline, through a power cut', async () => {
      const image = await buildTestImage(env, { repo: 'rollback-health' });
      const r1 = targetState([serviceSpec('a', image)], { releaseId: 'health-r1' });
      await store.save(signedTarget(r1));
      let p = await start();
      await eventually('r1 kept', 60_000, async () => logged(p, 'last good release saved', 'health-r1'));

      const labels = { [HEALTH_MIN_LABEL]: '0.9', [HEALTH_DEADLINE_LABEL]: '15s' };
      const r2 = targetState([serviceSpec('a', image, { labels, environment: { RELEASE: '2' } })], {
        releaseId: 'health-r2',
      });
      await store.save(signedTarget(r2));
      await p.stop('SIGTERM');
      p = await start();
      const watching = await eventually('r2 watched', 30_000, async () =>
        logged(p, 'watching the new release until its deadline', 'health-r2'),
      );
      assert.equal(Date.parse(String(watching.deadlineAt)) - Number(watching.time) >= 14_000, true);
      await eventually('r2 running', 60_000, runs(r2));
      // The service says it reads only half of its telegrams well.
      const answer = await fetch(`${base}${localPaths.health('a')}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ value: 0.5, detail: '12 of 24 telegrams good' }),
      });
      assert.equal(answer.status, 204);
      // What a service may send is bounded and checked: the key, a service the device runs, the shape, the size.
      const put = async (service: string, body: string, withKey = true): Promise<number> =>
        (
          await fetch(`${base}${localPaths.health(service)}`, {
            method: 'PUT',
            headers: { 'content-type': 'application/json', ...(withKey ? { authorization: `Bearer ${key}` } : {}) },
            body,
          })
        ).status;
      assert.deepEqual(
        [
          await put('a', '{"value":1}', false),
          await put('nope', '{"value":1}'),
          await put('a', '{"value":"high"}'),
          await put('a', '{"value":1,"pass":true}'),
          await put('a', JSON.stringify({ value: 1, detail: 'x'.repeat(5000) })),
        ],
        [401, 404, 400, 400, 413],
      );
      const judged = await eventually('r2 reported with its health', 30_000, async () => {
        const s = await state();
        return s.report.services.find((x) => x.name === 'a')?.appHealth;
      });
      assert.deepEqual([judged.ok, judged.value, judged.detail], [false, 0.5, '12 of 24 telegrams good']);
      assert.equal(
        logged(p, 'release failed on this device: rolling back', 'health-r2'),
        undefined,
        'not before its deadline',
      );

      // Power is cut the moment the device decides: the record says rolling back, and the device resumes it.
      const rolling = await eventually(
        'the rollback of r2',
        60_000,
        async () => logged(p, 'release failed on this device: rolling back', 'health-r2'),
        20,
      );
      await p.stop('SIGKILL');
      const cutIn = JSON.parse(await readFile(path.join(dataDir, APP_RELEASE_FILE), 'utf8')) as { state: string };
      assert.equal(cutIn.state, 'rolling-back', 'the power cut came before the rollback was done');
      assert.ok(Number(rolling.time) >= Date.parse(String(watching.deadlineAt)), 'rolled back after the deadline');
      assert.match(
        String(rolling.reason),
        /^not healthy within its deadline of 15 s: a reports health 0.5, below its minimum 0.9$/,
      );
      p = await start();
      const back = await eventually('r1 running again', 60_000, runs(r1));
      assert.equal(back.report.rollback?.fromReleaseId, 'health-r2');
      assert.equal(back.report.rollback?.toReleaseId, 'health-r1');
      assert.match(back.report.rollback?.reason ?? '', /below its minimum 0.9/);
      await eventually('the rollback done', 30_000, async () => logged(p, 'rollback done', 'health-r2'));
      assert.deepEqual(
        (await containersOfA()).map((c) => [c.state, c.release]),
        [['running', 'health-r1']],
      );
    });

    it('keeps a release whose service reports good health (through its health file) at its deadline', async () => {
      const reporting = await buildTestImage(env, {
        repo: 'rollback-healthy',
        cmd: [
          'sh',
          '-c',
          'echo \'{"value":0.99,"detail":"99 of 100 telegrams good"}\' > "$SKIFF_LOCK_DIR/health.json"; trap "exit 0" TERM; while :; do sleep 1 & wait $!; done',
        ],
      });
      const labels = { [HEALTH_MIN_LABEL]: '0.9', [HEALTH_DEADLINE_LABEL]: '10s' };
      const r3 = targetState([serviceSpec('a', reporting, { labels })], { releaseId: 'health-r3' });
      await store.save(signedTarget(r3));
      await device?.stop('SIGTERM');
      const p = await start();
      const watching = await eventually('r3 watched', 30_000, async () =>
        logged(p, 'watching the new release until its deadline', 'health-r3'),
      );
      const kept = await eventually('r3 kept', 60_000, async () => logged(p, 'release kept', 'health-r3'));
      assert.ok(Number(kept.time) >= Date.parse(String(watching.deadlineAt)), 'kept at its deadline, not before');
      await eventually('r3 saved as the last good release', 30_000, async () =>
        logged(p, 'last good release saved', 'health-r3'),
      );
      const s = await eventually('r3 running', 30_000, runs(r3));
      assert.equal(s.report.rollback, undefined);
      const a = s.report.services.find((x) => x.name === 'a');
      assert.deepEqual(
        [a?.appHealth?.ok, a?.appHealth?.value, a?.appHealth?.detail, a?.restartLoop, a?.restarts],
        [true, 0.99, '99 of 100 telegrams good', undefined, 0],
      );
    });
  });
});

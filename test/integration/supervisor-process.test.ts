// The supervisor as the device runs it: a process (node dist/supervisor/main.js) with a data dir, killed and
// restarted, offline or talking to the real registry-api (in this process, over HTTP, on a real SQLite file).
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TargetState } from '../../protocol/target-state.js';
import { paths } from '../../protocol/http/paths.js';
import { createLogger } from '../../lib/logger.js';
import { apiSigningKeyOf, type SupervisorConfig } from '../../supervisor/config.js';
import { desiredState } from '../../supervisor/plan/desired-state.js';
import { DockerEngine } from '../../supervisor/engine/engine.js';
import { Reconciler } from '../../supervisor/reconcile/reconciler.js';
import { TargetStore } from '../../supervisor/target/store.js';
import { ApiServer, type ObservedRequest } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage, SLOW_STOP_COMMAND } from '../../harness/images.js';
import { buildLayeredImage } from '../../harness/layered-image.js';
import {
  cleanDevice,
  deviceDocker,
  eventually,
  managedContainers,
  type RunningContainer,
} from '../../harness/supervisor-device.js';
import { offlineDeviceConfig, type SupervisorProcess, SupervisorProcesses } from '../../harness/supervisor-process.js';
import { TamperingProxy } from '../../harness/supervisor-tampering-proxy.js';
import { serviceSpec, signedTarget, targetState, TEST_DEVICE_UUID } from '../../harness/supervisor-targets.js';

const env = loadTestEnv();
const run = promisify(execFile);
const docker = deviceDocker(env);
const log = createLogger('test-supervisor', { test: 'process' });
const engine = new DockerEngine(docker, log);

const devices = new SupervisorProcesses();
const makeDataDir = (config: SupervisorConfig): Promise<string> => devices.dataDir(config);

async function convergeInProcess(target: TargetState): Promise<void> {
  const reconciler = new Reconciler({ engine, log });
  reconciler.setTarget(target);
  for (let pass = 0; pass < 20 && reconciler.currentStatus().phase !== 'converged'; pass++) {
    await reconciler.runPass();
    assert.notEqual(reconciler.currentStatus().phase, 'error', reconciler.currentStatus().error ?? '');
  }
  assert.equal(reconciler.currentStatus().phase, 'converged');
}

/** A compose file as the CLI pushes it: every service is built, its image comes from the release's images map. */
function composeOf(services: string[]): string {
  return [
    'services:',
    ...services.flatMap((name) => [`  ${name}:`, `    build: ./${name}`, '    restart: always']),
    '',
  ].join('\n');
}

/** A device's config once the API admitted it: its uuid and the token the API gave it. */
async function registeredAs(dataDir: string): Promise<{ uuid: string; deviceKey: string }> {
  return eventually('the device to be admitted', 30_000, async () => {
    const saved = JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig;
    return saved.uuid !== undefined && saved.deviceToken !== undefined
      ? { uuid: saved.uuid, deviceKey: saved.deviceToken }
      : undefined;
  });
}

/** The release of the target the device persisted, read as the supervisor reads it (signature checked). */
async function persistedRelease(dataDir: string): Promise<string | null | undefined> {
  const config = JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig;
  const signed = await new TargetStore(dataDir, config.uuid ?? '').load(apiSigningKeyOf(config));
  return signed?.target.release?.id;
}

/** The engine runs exactly the target: one running container per service with the desired hash, nothing else. */
async function runsExactly(target: TargetState): Promise<RunningContainer[] | undefined> {
  const containers = await managedContainers(docker);
  const desired = desiredState(target).containers;
  const exact =
    containers.length === desired.length &&
    desired.every((d) =>
      containers.some(
        (c) => c.service === d.service && c.state === 'running' && c.labels['io.skiff.config-hash'] === d.configHash,
      ),
    );
  return exact ? containers : undefined;
}

describe('supervisor process', function () {
  this.timeout(120_000);
  const start = (dataDir: string, extraEnv: Record<string, string> = {}): SupervisorProcess =>
    devices.start(dataDir, { SKIFF_POLL_INTERVAL_MS: '300', SKIFF_REPORT_INTERVAL_MS: '200', ...extraEnv });

  beforeEach(async () => {
    await cleanDevice(docker);
  });

  afterEach(async function () {
    await devices.stopAll(this.currentTest);
  });

  after(async () => {
    await cleanDevice(docker);
    await devices.removeDataDirs();
  });

  it('offline, killed with SIGKILL in the middle of an update, converges after a restart', async () => {
    const [a1, a2, slow1, slow2] = await Promise.all([
      buildTestImage(env, { repo: 'a' }),
      buildTestImage(env, { repo: 'a' }),
      buildTestImage(env, { repo: 'slow' }),
      buildTestImage(env, { repo: 'slow' }),
    ]);
    // slow ignores SIGTERM, so the update sits in its stop phase for the whole grace period.
    const r1 = targetState(
      [serviceSpec('a', a1), serviceSpec('slow', slow1, { command: SLOW_STOP_COMMAND, stopGracePeriodSeconds: 6 })],
      { releaseId: 'r1' },
    );
    const r2 = targetState([serviceSpec('a', a2), serviceSpec('slow', slow2)], { releaseId: 'r2' });
    await convergeInProcess(r1);
    const old = await managedContainers(docker);

    const dataDir = await makeDataDir(offlineDeviceConfig(env));
    await new TargetStore(dataDir, TEST_DEVICE_UUID).save(signedTarget(r2));
    const first = start(dataDir);
    const oldA = old.find((c) => c.service === 'a');
    assert.ok(oldA);
    await eventually(
      'the old a container to be stopped',
      30_000,
      async () => {
        const now = await managedContainers(docker);
        return now.some((c) => c.id === oldA.id && c.state === 'running') ? undefined : true;
      },
      50,
    );
    assert.equal(await first.stop('SIGKILL'), null);

    const midUpdate = await managedContainers(docker);
    assert.equal(await runsExactly(r2), undefined, `expected an unfinished update, found ${JSON.stringify(midUpdate)}`);
    assert.ok(
      midUpdate.some((c) => c.labels['io.skiff.release'] === 'r1'),
      'r1 containers are still there',
    );

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

    // Signed with the key the device trusts, so what is refused is the content: an image not pinned by digest.
    const broken = targetState([serviceSpec('a', 'busybox:latest')], { releaseId: 'r2' });
    const invalidDir = await makeDataDir(offlineDeviceConfig(env));
    await new TargetStore(invalidDir, TEST_DEVICE_UUID).save(signedTarget(broken));
    const tornDir = await makeDataDir(offlineDeviceConfig(env));
    await writeFile(
      path.join(tornDir, 'target.json'),
      JSON.stringify(targetState([], { releaseId: 'r3' })).slice(0, 40),
    );

    const invalid = start(invalidDir);
    const torn = start(tornDir);
    for (const p of [invalid, torn]) {
      await eventually('the refusal to be logged', 15_000, async () =>
        p.hasLogged('persisted target refused; running containers are left alone') ? true : undefined,
      );
    }
    assert.match(invalid.logText(), /services\/0\/image/);
    assert.doesNotMatch(invalid.logText(), /signature invalid/);
    assert.match(torn.logText(), /is not JSON/);
    // Give a wrongly acting supervisor the time to do damage, then look.
    await new Promise((r) => setTimeout(r, 2_000));
    assert.deepEqual(await managedContainers(docker), before);
    assert.equal(await invalid.stop('SIGTERM'), 0);
    assert.equal(await torn.stop('SIGTERM'), 0);
  });

  describe('with the real registry-api', () => {
    let api: ApiServer;

    before(async () => {
      api = await ApiServer.start({ registry: env.registry });
    });

    afterEach(function () {
      if (this.currentTest?.state === 'failed') {
        console.error(
          `--- requests the API answered ---\n${api.requests.map((r) => `${r.method} ${r.path} ${r.status}`).join('\n')}`,
        );
      }
    });

    after(async () => {
      await api.stop();
    });

    /** A fresh device of `fleet`: no uuid, no keys, only what an installer's image carries. */
    function newDevice(fleet: { name: string; provisioningKey: string }, apiUrl = api.url): SupervisorConfig {
      return {
        apiUrl,
        fleet: fleet.name,
        provisioningKey: fleet.provisioningKey,
        deviceType: 'generic-amd64',
        name: 'meter-north-1',
        dockerHost: env.deviceDockerHost,
      };
    }

    it('registers, follows release 1, then 2, then a pin back to 1, and reports what it runs', async () => {
      const [a1, b1, b2] = await Promise.all([
        buildTestImage(env, { repo: 'a' }),
        buildTestImage(env, { repo: 'b' }),
        buildTestImage(env, { repo: 'b' }),
      ]);
      const fleet = await api.createFleet('meters');
      const release1 = await api.createRelease(fleet.name, composeOf(['a', 'b']), { a: a1, b: b1 });
      const dataDir = await makeDataDir(newDevice(fleet));
      // The API is shared by this describe's tests: count only this device's registrations.
      const registeredEarlier = api.requestsTo('POST', paths.deviceAuth).length;
      const registrations = (): ObservedRequest[] => api.requestsTo('POST', paths.deviceAuth).slice(registeredEarlier);
      const first = start(dataDir);

      // Registration with the fleet's provisioning key; the device key and the API's signing key are kept.
      const { uuid, deviceKey } = await registeredAs(dataDir);
      const saved = JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig;
      assert.equal(saved.apiSigningKey, api.signingKey);
      assert.equal(
        saved.provisioningKey,
        undefined,
        "the fleet's provisioning key is deleted once it admitted the device",
      );
      assert.deepEqual(
        registrations().map((r) => r.status),
        [200],
      );
      const key = await stat(path.join(dataDir, 'device-key.pem'));
      assert.equal(key.mode & 0o777, 0o600, 'the private key is for the supervisor only');
      const listed = await api.admin.listDevices(fleet.name);
      assert.deepEqual(
        listed.map((d) => [d.uuid, d.name, d.fleet]),
        [[uuid, 'meter-north-1', fleet.name]],
      );

      // Release 1 runs, and the API knows it from the device's reports.
      const converged = (version: string) => async () => {
        const device = await api.device(uuid);
        return device.updateStatus === 'converged' && device.runningRelease === version ? device : undefined;
      };
      const device1 = await eventually('the API to see release 1 converged', 60_000, converged(release1.version));
      assert.equal(device1.targetRelease, release1.version);
      assert.equal(device1.error, null);
      assert.equal(device1.online, true);
      assert.equal(device1.lastReport?.targetReleaseId, release1.id);
      assert.deepEqual(
        device1.lastReport?.services.map((s) => [s.name, s.state, s.releaseId, s.image]),
        [
          ['a', 'running', release1.id, a1],
          ['b', 'running', release1.id, b1],
        ],
      );
      assert.ok(
        await runsExactly(await api.deviceTarget(uuid, deviceKey)),
        'the engine runs exactly the target the API serves',
      );

      // Unchanged target: polls revalidate with the ETag and cost a 304.
      const polls = (): ObservedRequest[] => api.requestsTo('GET', paths.target(uuid));
      const etag1 = polls().find((p) => p.status === 200)?.etag;
      assert.ok(etag1, 'the first target answer carried an ETag');
      await eventually('a poll answered 304', 30_000, async () =>
        polls().some((p) => p.status === 304 && p.ifNoneMatch === etag1) ? true : undefined,
      );
      const before2 = await managedContainers(docker);

      // Release 2 is pushed: the next poll with the old ETag gets the new target, the device follows.
      const release2 = await api.createRelease(fleet.name, composeOf(['a', 'b']), { a: a1, b: b2 });
      const device2 = await eventually('the API to see release 2 converged', 60_000, converged(release2.version));
      assert.ok(polls().some((p) => p.status === 200 && p.ifNoneMatch === etag1 && p.etag !== etag1));
      assert.deepEqual(
        device2.lastReport?.services.map((s) => [s.name, s.state, s.releaseId, s.image]),
        [
          ['a', 'running', release2.id, a1],
          ['b', 'running', release2.id, b2],
        ],
      );
      const after2 = await managedContainers(docker);
      assert.equal(
        after2.find((c) => c.service === 'a')?.id,
        before2.find((c) => c.service === 'a')?.id,
        'a did not change: kept',
      );
      assert.notEqual(after2.find((c) => c.service === 'b')?.id, before2.find((c) => c.service === 'b')?.id);
      assert.ok(await runsExactly(await api.deviceTarget(uuid, deviceKey)));
      assert.equal(await persistedRelease(dataDir), release2.id);

      // The device is off while the fleet is pinned back to release 1; it comes back with its key and converges.
      assert.equal(await first.stop('SIGTERM'), 0);
      await api.admin.pin(fleet.name, release1.version);
      const second = start(dataDir);
      const device3 = await eventually('the API to see release 1 converged again', 60_000, converged(release1.version));
      assert.equal(device3.targetRelease, release1.version);
      assert.deepEqual(
        device3.lastReport?.services.map((s) => [s.name, s.state, s.releaseId, s.image]),
        [
          ['a', 'running', release1.id, a1],
          ['b', 'running', release1.id, b1],
        ],
      );
      const after3 = await managedContainers(docker);
      assert.equal(after3.find((c) => c.service === 'a')?.id, before2.find((c) => c.service === 'a')?.id);
      assert.ok(await runsExactly(await api.deviceTarget(uuid, deviceKey)));
      assert.ok(second.hasLogged('persisted target loaded'));
      assert.equal(registrations().length, 1, 'a restart does not register again');

      // Every device request the API got was accepted: reports match StateReportSchema, the key always worked.
      const refused = api.requests.filter((r) => r.path.startsWith(`/v1/device/${uuid}/`) && r.status >= 400);
      assert.deepEqual(refused, []);
      assert.ok(api.requestsTo('PATCH', paths.state(uuid)).length >= 3);
    });

    it('on a full data partition: reports why it cannot update, keeps running, and takes a pin to a smaller release', async () => {
      const [a1, bulky, b1] = await Promise.all([
        buildTestImage(env, { repo: 'a' }),
        buildLayeredImage(env, [12 * 1024 * 1024]),
        buildTestImage(env, { repo: 'b' }),
      ]);
      const fleet = await api.createFleet('full-data');
      const release1 = await api.createRelease(fleet.name, composeOf(['a']), { a: a1 });
      const dataDir = await makeDataDir(newDevice(fleet));
      // The data directory becomes an 8 MB partition of its own (tests run as root), holding the same config.
      const config = await readFile(path.join(dataDir, 'config.json'));
      await run('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dataDir]);
      try {
        await writeFile(path.join(dataDir, 'config.json'), config);
        const device = start(dataDir);
        const { uuid } = await registeredAs(dataDir);
        const converged = (version: string) => async () => {
          const found = await api.device(uuid);
          return found.updateStatus === 'converged' && found.runningRelease === version ? found : undefined;
        };
        await eventually('release 1 converged', 60_000, converged(release1.version));
        const [running] = await managedContainers(docker);

        // Release 2's 12 MB layer cannot be downloaded into 8 MB: the device says so and keeps release 1 running.
        await api.createRelease(fleet.name, composeOf(['a']), { a: bulky.ref });
        const refused = await eventually('the error to reach the API', 60_000, async () => {
          const found = await api.device(uuid);
          return found.error?.includes('download directory') ? found : undefined;
        });
        assert.match(refused.error ?? '', /not enough space in the supervisor's download directory for the update/);
        assert.equal(refused.updateStatus, 'error');
        assert.deepEqual(
          refused.lastReport?.services.map((sv) => [sv.name, sv.state, sv.releaseId]),
          [['a', 'running', release1.id]],
        );
        assert.equal(refused.online, true);
        assert.deepEqual(
          (await managedContainers(docker)).map((c) => [c.id, c.state]),
          [[running?.id, 'running']],
          'release 1 runs untouched',
        );

        // A pin to a release that fits goes through.
        const release3 = await api.createRelease(fleet.name, composeOf(['a']), { a: b1 });
        await api.admin.pin(fleet.name, release3.version);
        const pinned = await eventually('release 3 converged', 60_000, converged(release3.version));
        assert.equal(pinned.error, null);
        assert.equal(await device.stop('SIGTERM'), 0);
      } finally {
        // A supervisor still running (a failed assertion) keeps it busy: detached then, freed when it exits.
        await run('umount', [dataDir]).catch(() => run('umount', ['-l', dataDir]));
      }
    });

    it('does not register with a wrong provisioning key, and keeps trying', async () => {
      const fleet = await api.createFleet('wrong-key');
      const dataDir = await makeDataDir(
        newDevice({ name: fleet.name, provisioningKey: 'not-the-fleet-key-0123456789' }),
      );
      const device = start(dataDir);
      await eventually('two refused registrations', 20_000, async () =>
        device.logs().filter((l) => l.msg === 'authentication failed').length >= 2 ? true : undefined,
      );
      assert.match(device.logText(), /answered 401: the provisioning key is not a key of fleet 'wrong-key'/);
      assert.ok(api.requestsTo('POST', paths.deviceAuth).filter((r) => r.status === 401).length >= 2);
      assert.deepEqual(await api.admin.listDevices(fleet.name), []);
      const saved = JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig;
      assert.equal(saved.deviceToken, undefined);
      assert.equal(await device.stop('SIGTERM'), 0);
    });

    // The real API only serves targets it built from a valid compose file, so the refused target is made by a
    // pass-through proxy that rewrites the API's answer and signs it with the API's own key: what an API with a bug
    // (or one newer than the device) would serve. Registration and reports still reach the real API. Targets
    // altered in transit (signature no longer fits) are signed-target.test.ts's subject.
    it('refuses an invalid target the API signed, keeps running, says why, and recovers', async () => {
      const [a1, a2] = await Promise.all([buildTestImage(env, { repo: 'a' }), buildTestImage(env, { repo: 'a' })]);
      const fleet = await api.createFleet('refusals');
      const release1 = await api.createRelease(fleet.name, composeOf(['a']), { a: a1 });
      const proxy = new TamperingProxy(api.url);
      const proxyUrl = await proxy.listen();
      try {
        const dataDir = await makeDataDir(newDevice(fleet, proxyUrl));
        start(dataDir);
        const { uuid } = await registeredAs(dataDir);
        await eventually('release 1 converged', 60_000, async () => {
          const device = await api.device(uuid);
          return device.updateStatus === 'converged' && device.runningRelease === release1.version ? true : undefined;
        });
        const before = await managedContainers(docker);

        // A service that depends on itself: valid against the schema, impossible to run.
        proxy.tamper = (value) => {
          const target = structuredClone(value) as TargetState;
          for (const s of target.services) s.dependsOn = { [s.name]: 'service_started' };
          return target;
        };
        proxy.sign = (target) => api.signAsApi(target);
        const release2 = await api.createRelease(fleet.name, composeOf(['a']), { a: a2 });
        const refusing = await eventually('the API to see the refusal', 30_000, async () => {
          const device = await api.device(uuid);
          return device.updateStatus === 'error' ? device : undefined;
        });
        assert.match(refusing.error ?? '', /target state from the API is invalid: \/services: dependency cycle a -> a/);
        assert.equal(refusing.runningRelease, release1.version);
        assert.equal(refusing.targetRelease, release2.version, 'the API says what the device should run');
        assert.equal(refusing.lastReport?.targetReleaseId, release1.id, 'the device says what it runs to');
        assert.deepEqual(
          refusing.lastReport?.services.map((s) => [s.name, s.state, s.releaseId]),
          [['a', 'running', release1.id]],
        );

        // It keeps asking (a refused target is not remembered) and touches nothing meanwhile.
        const polled = api.requestsTo('GET', paths.target(uuid)).length;
        await eventually('more polls', 30_000, async () =>
          api.requestsTo('GET', paths.target(uuid)).length > polled + 2 ? true : undefined,
        );
        assert.deepEqual(await managedContainers(docker), before);
        assert.equal(await persistedRelease(dataDir), release1.id);

        // The API's own answer is valid: once it gets through, the device follows and the error clears.
        proxy.tamper = null;
        proxy.sign = null;
        const recovered = await eventually('release 2 converged', 60_000, async () => {
          const device = await api.device(uuid);
          return device.updateStatus === 'converged' && device.runningRelease === release2.version ? device : undefined;
        });
        assert.equal(recovered.error, null);
      } finally {
        await proxy.close();
      }
    });
  });
});

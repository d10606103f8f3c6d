// Signed target states end to end: the real registry-api (in this process, real SQLite) signs, the real supervisor
// process verifies against the key it got at registration, on the real device engine. A tampering proxy between
// them alters targets in transit; a test also alters the device's persisted copy on disk.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Fleet } from '../../protocol/api.js';
import type { TargetState } from '../../protocol/target-state.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import {
  cleanDevice,
  deviceDocker,
  eventually,
  inspectContainer,
  managedContainers,
  type RunningContainer,
} from '../../harness/supervisor-device.js';
import { type SupervisorProcess, SupervisorProcesses, UNREACHABLE_API } from '../../harness/supervisor-process.js';
import { TamperingProxy } from '../../harness/supervisor-tampering-proxy.js';

const env = loadTestEnv();
const docker = deviceDocker(env);

/** One service `meter`, built, with SITE in its environment: the value the tampering changes. */
function compose(site: string): string {
  return [
    'services:',
    '  meter:',
    '    build: ./meter',
    '    environment:',
    `      SITE: ${site}`,
    '    restart: always',
    '',
  ].join('\n');
}

/** What target.json holds. */
interface PersistedTarget {
  signature: string;
  target: TargetState;
}

async function persistedTarget(dataDir: string): Promise<PersistedTarget> {
  return JSON.parse(await readFile(path.join(dataDir, 'target.json'), 'utf8')) as PersistedTarget;
}

/** Container ids and states: what must not change while a target is refused. */
function idsAndStates(containers: RunningContainer[]): [string, string, string][] {
  return containers.map((c) => [c.service, c.id, c.state]);
}

describe('signed target states', function () {
  this.timeout(180_000);
  let api: ApiServer;
  let proxy: TamperingProxy;
  let proxyUrl: string;
  const devices = new SupervisorProcesses();

  before(async () => {
    api = await ApiServer.start({ registry: env.registry });
    proxy = new TamperingProxy(api.url);
    proxyUrl = await proxy.listen();
  });

  beforeEach(async () => {
    proxy.tamper = null;
    proxy.unsigned = false;
    await cleanDevice(docker);
  });

  afterEach(async function () {
    await devices.stopAll(this.currentTest);
  });

  after(async () => {
    await proxy.close();
    await api.stop();
    await cleanDevice(docker);
    await devices.removeDataDirs();
  });

  function start(dataDir: string): SupervisorProcess {
    return devices.start(dataDir, { SKIFF_POLL_INTERVAL_MS: '300', SKIFF_REPORT_INTERVAL_MS: '200' });
  }

  /** A fresh device of `fleet` talking to the API through the proxy; returns its data dir once it registered. */
  async function newDevice(fleet: Fleet): Promise<{ dataDir: string; uuid: string; supervisor: SupervisorProcess }> {
    const config: SupervisorConfig = {
      apiUrl: proxyUrl,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: fleet.deviceType,
      name: `device-of-${fleet.name}`,
      dockerHost: env.deviceDockerHost,
    };
    const dataDir = await devices.dataDir(config);
    const supervisor = start(dataDir);
    const saved = await eventually('the device to register', 30_000, async () => {
      const c = JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig;
      return c.deviceToken !== undefined && c.uuid !== undefined ? c : undefined;
    });
    // The key to verify targets with comes with the registration.
    assert.equal(saved.apiSigningKey, api.signingKey);
    return { dataDir, uuid: saved.uuid ?? '', supervisor };
  }

  async function convergedTo(uuid: string, version: string): Promise<void> {
    await eventually(`the API to see release ${version} converged`, 60_000, async () => {
      const device = await api.device(uuid);
      return device.updateStatus === 'converged' && device.runningRelease === version ? true : undefined;
    });
  }

  it('a signed target converges; one altered in transit is refused, the release keeps running, the API is told', async () => {
    const [meter1, meter2] = await Promise.all([
      buildTestImage(env, { repo: 'meter' }),
      buildTestImage(env, { repo: 'meter' }),
    ]);
    const fleet = await api.createFleet('signed-transit');
    const release1 = await api.createRelease(fleet.name, compose('north'), { meter: meter1 });
    const { dataDir, uuid, supervisor } = await newDevice(fleet);

    await convergedTo(uuid, release1.version);
    const running = await managedContainers(docker);
    assert.deepEqual(
      running.map((c) => [c.service, c.state, c.labels['io.skiff.release']]),
      [['meter', 'running', release1.id]],
    );
    const inspected = await inspectContainer(docker, running[0]?.id ?? '');
    assert.ok(inspected.Config.Env.includes('SITE=north'));
    const accepted = (): number => supervisor.logs().filter((l) => l.msg === 'new target accepted').length;
    const acceptedBefore = accepted();

    // One byte of the next target changes on the way: SITE=north becomes SITE=nortH. The API's signature header
    // passes through unchanged.
    let altered = 0;
    proxy.tamper = (value) => {
      const target = value as TargetState;
      for (const service of target.services) {
        if (service.environment.SITE === 'north') service.environment.SITE = 'nortH';
      }
      altered++;
      return target;
    };
    const release2 = await api.createRelease(fleet.name, compose('north'), { meter: meter2 });

    const refused = await eventually('the refusal to reach the API', 30_000, async () => {
      const device = await api.device(uuid);
      return device.updateStatus === 'error' && device.error !== null ? device : undefined;
    });
    assert.match(refused.error ?? '', /^target state from the API: signature invalid: .*does not match/);
    assert.equal(refused.targetRelease, release2.version, 'the API wants release 2');
    assert.equal(refused.runningRelease, release1.version, 'the device still runs release 1 in full');
    assert.equal(refused.lastReport?.targetReleaseId, release1.id, "the device's own target is still release 1");
    assert.ok(supervisor.logs().some((l) => l.msg === 'target poll failed' && /signature invalid/.test(String(l.err))));

    // Let it poll (and refuse) a few more times before looking: a wrongly acting device would have started by now.
    const seen = altered;
    await eventually('more refused polls', 20_000, async () => (altered >= seen + 3 ? true : undefined));
    assert.deepEqual(idsAndStates(await managedContainers(docker)), idsAndStates(running), 'the same containers run');
    assert.equal(accepted(), acceptedBefore, 'no altered target was accepted');
    const persisted = await persistedTarget(dataDir);
    assert.equal(persisted.target.release?.id, release1.id, 'the persisted target is still release 1');

    // The same target, untouched, is taken: the refusal was the tampering's doing.
    proxy.tamper = null;
    await convergedTo(uuid, release2.version);
    const updated = await managedContainers(docker);
    assert.deepEqual(
      updated.map((c) => [c.service, c.state, c.labels['io.skiff.release']]),
      [['meter', 'running', release2.id]],
    );
    assert.notEqual(updated[0]?.id, running[0]?.id);
    assert.equal((await api.device(uuid)).error, null);
    assert.equal((await persistedTarget(dataDir)).target.release?.id, release2.id);
  });

  it('an unsigned target is refused, the running release is untouched, the API is told', async () => {
    const [meter1, meter2] = await Promise.all([
      buildTestImage(env, { repo: 'meter' }),
      buildTestImage(env, { repo: 'meter' }),
    ]);
    const fleet = await api.createFleet('signed-unsigned');
    const release1 = await api.createRelease(fleet.name, compose('north'), { meter: meter1 });
    const { dataDir, uuid, supervisor } = await newDevice(fleet);
    await convergedTo(uuid, release1.version);
    const running = await managedContainers(docker);

    // The content is exactly what the API serves; only the signature header is missing.
    proxy.unsigned = true;
    const release2 = await api.createRelease(fleet.name, compose('south'), { meter: meter2 });
    const refused = await eventually('the refusal to reach the API', 30_000, async () => {
      const device = await api.device(uuid);
      return device.updateStatus === 'error' && device.error !== null ? device : undefined;
    });
    assert.match(
      refused.error ?? '',
      /^target state from the API: signature invalid: it is not signed \(no Skiff-Signature\)/,
    );
    assert.equal(refused.targetRelease, release2.version);
    assert.equal(refused.runningRelease, release1.version);
    assert.equal(refused.lastReport?.targetReleaseId, release1.id);
    await new Promise((r) => setTimeout(r, 2_000));
    assert.deepEqual(idsAndStates(await managedContainers(docker)), idsAndStates(running), 'the same containers run');
    assert.equal((await persistedTarget(dataDir)).target.release?.id, release1.id);
    assert.ok(!supervisor.logs().some((l) => l.msg === 'new target accepted' && l.release === release2.id));

    proxy.unsigned = false;
    await convergedTo(uuid, release2.version);
  });

  it('refuses a persisted target altered on disk and leaves the running release alone', async () => {
    const meter = await buildTestImage(env, { repo: 'meter' });
    const fleet = await api.createFleet('signed-disk');
    const release = await api.createRelease(fleet.name, compose('north'), { meter });
    const { dataDir, uuid, supervisor } = await newDevice(fleet);
    await convergedTo(uuid, release.version);
    assert.equal(await supervisor.stop('SIGTERM'), 0);
    const running = await managedContainers(docker);

    // Offline from now on, so only the file on disk can give it a target.
    const configFile = path.join(dataDir, 'config.json');
    const config = JSON.parse(await readFile(configFile, 'utf8')) as SupervisorConfig;
    await writeFile(configFile, JSON.stringify({ ...config, apiUrl: UNREACHABLE_API }));
    const targetFile = path.join(dataDir, 'target.json');
    const text = await readFile(targetFile, 'utf8');
    assert.ok(text.includes('"SITE": "north"'));
    await writeFile(targetFile, text.replace('"SITE": "north"', '"SITE": "nortH"'));

    const restarted = start(dataDir);
    await eventually('the refusal to be logged', 15_000, async () =>
      restarted.hasLogged('persisted target refused; running containers are left alone') ? true : undefined,
    );
    assert.match(restarted.logText(), /persisted target .*target\.json: signature invalid: .*does not match/);
    await new Promise((r) => setTimeout(r, 2_000));
    assert.deepEqual(idsAndStates(await managedContainers(docker)), idsAndStates(running));
    assert.equal(await restarted.stop('SIGTERM'), 0);
  });
});

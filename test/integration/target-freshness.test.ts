// Fresh targets end to end: the real registry-api issues each device's signed target with a version, issue time and
// expiry; a real supervisor process behind a man-in-the-middle proxy refuses what the proxy replays (an older target
// of its own, one for another device) or serves signed but expired, keeps its containers exactly as they run, and
// tells the API why.
import assert from 'node:assert/strict';
import { createPrivateKey, randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Fleet, SigningKeyStatus } from '../../protocol/api.js';
import { paths } from '../../protocol/http/paths.js';
import { SIGNATURE_HEADER, signTarget } from '../../protocol/signature.js';
import type { TargetState } from '../../protocol/target-state.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import {
  cleanDevice,
  deviceDocker,
  eventually,
  managedContainers,
  type RunningContainer,
} from '../../harness/supervisor-device.js';
import { type SupervisorProcess, SupervisorProcesses, UNREACHABLE_API } from '../../harness/supervisor-process.js';
import { TamperingProxy, type RecordedTarget } from '../../harness/supervisor-tampering-proxy.js';
import { skiff } from '../../harness/skiff-cli.js';
import { TestDevice } from '../../harness/test-device.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const DAY_MS = 24 * 3600 * 1000;

function compose(site: string): string {
  return ['services:', '  meter:', '    build: ./meter', '    environment:', `      SITE: ${site}`, ''].join('\n');
}

function idsAndStates(containers: RunningContainer[]): [string, string, string][] {
  return containers.map((c) => [c.service, c.id, c.state]);
}

async function persistedRelease(dataDir: string): Promise<string | null> {
  const persisted = JSON.parse(await readFile(path.join(dataDir, 'target.json'), 'utf8')) as { target: TargetState };
  return persisted.target.release?.id ?? null;
}

describe('fresh targets', function () {
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
    proxy.sign = null;
    proxy.replay = null;
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

  async function newDevice(fleet: Fleet): Promise<{ dataDir: string; uuid: string; supervisor: SupervisorProcess }> {
    const config: SupervisorConfig = {
      apiUrl: proxyUrl,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: fleet.deviceType,
      name: `device-of-${fleet.name}`,
      dockerHost: env.deviceDockerHost,
      uuid: randomUUID(),
    };
    const dataDir = await devices.dataDir(config);
    const supervisor = devices.start(dataDir, { SKIFF_POLL_INTERVAL_MS: '300', SKIFF_REPORT_INTERVAL_MS: '200' });
    return { dataDir, uuid: config.uuid ?? '', supervisor };
  }

  async function convergedTo(uuid: string, version: string): Promise<void> {
    await eventually(`the API to see release ${version} converged`, 60_000, async () => {
      const device = await api.device(uuid);
      return device.updateStatus === 'converged' && device.runningRelease === version && device.error === null
        ? true
        : undefined;
    });
  }

  /** Waits for the device's report of a refusal matching `reason`; checks it still runs release `running`. */
  async function refusalReported(uuid: string, reason: RegExp, running: string): Promise<void> {
    const refused = await eventually('the refusal to reach the API', 30_000, async () => {
      const device = await api.device(uuid);
      return device.updateStatus === 'error' && reason.test(device.error ?? '') ? device : undefined;
    });
    assert.equal(
      refused.runningRelease,
      running,
      `the device still runs its release in full: ${JSON.stringify(refused)}`,
    );
  }

  /** Lets the device refuse a few more polls, then checks nothing moved. */
  async function untouched(dataDir: string, running: RunningContainer[], releaseId: string): Promise<void> {
    const seen = proxy.replayed;
    await eventually('more refused polls', 20_000, async () => (proxy.replayed >= seen + 3 ? true : undefined));
    assert.deepEqual(idsAndStates(await managedContainers(docker)), idsAndStates(running), 'the same containers run');
    assert.equal(await persistedRelease(dataDir), releaseId, 'the persisted target is unchanged');
  }

  it('a replayed older target of the device itself is refused; the running release is untouched', async () => {
    const [meter1, meter2] = await Promise.all([
      buildTestImage(env, { repo: 'meter' }),
      buildTestImage(env, { repo: 'meter' }),
    ]);
    const fleet = await api.createFleet('fresh-replay');
    const release1 = await api.createRelease(fleet.name, compose('north'), { meter: meter1 });
    const { dataDir, uuid, supervisor } = await newDevice(fleet);
    await convergedTo(uuid, release1.version);
    const old = proxy.recorded.get(uuid)?.find((r) => r.target.release?.id === release1.id);
    assert.ok(old?.target.issued, 'the API served release 1 with an issued version');

    const release2 = await api.createRelease(fleet.name, compose('south'), { meter: meter2 });
    await convergedTo(uuid, release2.version);
    const current = proxy.recorded.get(uuid)?.at(-1);
    assert.equal(current?.target.release?.id, release2.id);
    assert.ok((current?.target.issued?.version ?? 0) > old.target.issued.version, 'the version went up');
    const running = await managedContainers(docker);
    assert.deepEqual(
      running.map((c) => [c.service, c.labels['io.skiff.release']]),
      [['meter', release2.id]],
    );

    // Release 1's answer, byte for byte with the API's valid signature, replayed on every poll.
    proxy.replay = (polled) => (polled === uuid ? old : null);
    await refusalReported(
      uuid,
      new RegExp(
        `refused: version ${old.target.issued.version} is lower than version ${current?.target.issued?.version}`,
      ),
      release2.version,
    );
    await untouched(dataDir, running, release2.id);
    assert.ok(supervisor.hasLogged('stale target refused'));

    proxy.replay = null;
    await convergedTo(uuid, release2.version);
    assert.deepEqual(idsAndStates(await managedContainers(docker)), idsAndStates(running));
  });

  it('an expired target, signed with the API key, is refused; the running release is untouched', async () => {
    const [meter1, meter2] = await Promise.all([
      buildTestImage(env, { repo: 'meter' }),
      buildTestImage(env, { repo: 'meter' }),
    ]);
    const fleet = await api.createFleet('fresh-expired');
    const release1 = await api.createRelease(fleet.name, compose('north'), { meter: meter1 });
    const { dataDir, uuid } = await newDevice(fleet);
    await convergedTo(uuid, release1.version);
    const running = await managedContainers(docker);

    // What a frozen or leaked-and-kept target looks like: a newer version, but its validity ended three days ago.
    // Signed with the API's own key, so only its expiry can stop it.
    const now = Date.now();
    let served = 0;
    proxy.tamper = (value) => {
      const target = value as TargetState;
      served++;
      return {
        ...target,
        issued: {
          version: (target.issued?.version ?? 0) + 1000,
          issuedAt: new Date(now - 10 * DAY_MS).toISOString(),
          expiresAt: new Date(now - 3 * DAY_MS).toISOString(),
        },
      };
    };
    proxy.sign = (target) => api.signAsApi(target);
    const release2 = await api.createRelease(fleet.name, compose('south'), { meter: meter2 });
    await refusalReported(uuid, /refused: target expired: version \d+ was valid until/, release1.version);
    const seen = served;
    await eventually('more refused polls', 20_000, async () => (served >= seen + 3 ? true : undefined));
    assert.deepEqual(idsAndStates(await managedContainers(docker)), idsAndStates(running), 'the same containers run');
    assert.equal(await persistedRelease(dataDir), release1.id);

    proxy.tamper = null;
    proxy.sign = null;
    await convergedTo(uuid, release2.version);
  });

  it("another device's target, validly signed, is refused; the running release is untouched", async () => {
    const [meter1, meter2] = await Promise.all([
      buildTestImage(env, { repo: 'meter' }),
      buildTestImage(env, { repo: 'meter' }),
    ]);
    const fleet = await api.createFleet('fresh-other');
    const release1 = await api.createRelease(fleet.name, compose('north'), { meter: meter1 });
    const { dataDir, uuid } = await newDevice(fleet);
    await convergedTo(uuid, release1.version);
    const running = await managedContainers(docker);

    // From now on this device gets no answer from the API: its own last one until another device of the fleet has
    // fetched its target (release 2) through the same proxy, which records it and then replays it to this one.
    const own = proxy.recorded.get(uuid)?.at(-1) ?? null;
    assert.equal(own?.target.release?.id, release1.id);
    let theirs: RecordedTarget | null = null;
    proxy.replay = (polled) => (polled === uuid ? (theirs ?? own) : null);
    const release2 = await api.createRelease(fleet.name, compose('south'), { meter: meter2 });
    const other = TestDevice.create(randomUUID());
    const { token } = await other.token(api.url, { fleet: fleet.name, provisioningKey: fleet.provisioningKey });
    const answer = await fetch(`${proxyUrl}${paths.target(other.uuid)}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(answer.status, 200);
    assert.ok(answer.headers.get(SIGNATURE_HEADER));
    theirs = proxy.recorded.get(other.uuid)?.at(-1) ?? null;
    assert.equal(theirs?.target.release?.id, release2.id);

    await refusalReported(uuid, new RegExp(`is for device ${other.uuid}, this is ${uuid}`), release1.version);
    await untouched(dataDir, running, release1.id);

    proxy.replay = null;
    await convergedTo(uuid, release2.version);
  });

  it('a device with no pinned API key, or plain http to another machine, does not go online', async () => {
    const fleet = await api.createFleet('fresh-unpinned');
    const uuid = randomUUID();
    const dataDir = await devices.dataDir({ apiUrl: UNREACHABLE_API, deviceType: fleet.deviceType });
    // What a provisioning step that skipped the key leaves: the API is right there, but nothing vouches for it.
    const unpinned: SupervisorConfig = {
      apiUrl: proxyUrl,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: fleet.deviceType,
      dockerHost: env.deviceDockerHost,
      uuid,
    };
    await writeFile(path.join(dataDir, 'config.json'), JSON.stringify(unpinned));
    const first = devices.start(dataDir);
    await eventually('the refusal to go online', 15_000, async () =>
      first.hasLogged('not going online; running containers are left alone') ? true : undefined,
    );
    assert.match(first.logText(), /pins no apiSigningKey/);
    assert.match(first.logText(), /\/v1\/info \(field signingKey\)/);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(proxy.recorded.get(uuid), undefined, 'it never polled');
    await assert.rejects(api.device(uuid), 'the API never heard of it');
    assert.equal(await first.stop('SIGTERM'), 0);

    // Pinned, but the API's address is plain http to another machine (TEST-NET-1: nothing answers there anyway).
    await writeFile(
      path.join(dataDir, 'config.json'),
      JSON.stringify({ ...unpinned, apiUrl: 'http://192.0.2.10:4810', apiSigningKey: api.signingKey }),
    );
    const second = devices.start(dataDir);
    await eventually('the refusal to go online', 15_000, async () =>
      second.hasLogged('not going online; running containers are left alone') ? true : undefined,
    );
    assert.match(second.logText(), /plain http to another machine/);
    assert.ok(!second.logs().some((l) => l.msg === 'authentication failed'), 'it never tried to reach the API');
  });

  it('serves the same signed bytes until the content changes or half the validity passed', async () => {
    const validityMs = 6_000;
    const short = await ApiServer.start({ registry: env.registry, targetValidityMs: validityMs });
    try {
      const meter = await buildTestImage(env, { repo: 'meter' });
      const fleet = await short.createFleet('fresh-issue');
      await short.createRelease(fleet.name, compose('north'), { meter });
      const device = TestDevice.create(randomUUID());
      const { token } = await device.token(short.url, { fleet: fleet.name, provisioningKey: fleet.provisioningKey });
      const poll = async (etag?: string) => {
        const res = await fetch(`${short.url}${paths.target(device.uuid)}`, {
          headers: { authorization: `Bearer ${token}`, ...(etag === undefined ? {} : { 'if-none-match': etag }) },
        });
        const text = await res.text();
        return {
          status: res.status,
          etag: res.headers.get('etag') ?? '',
          signature: res.headers.get(SIGNATURE_HEADER),
          text,
          target: res.status === 200 ? (JSON.parse(text) as TargetState) : null,
        };
      };
      const first = await poll();
      assert.equal(first.status, 200);
      const issued = first.target?.issued;
      assert.ok(issued, 'the target carries its issue');
      assert.equal(issued.version, 1);
      assert.equal(Date.parse(issued.expiresAt) - Date.parse(issued.issuedAt), validityMs);
      const again = await poll();
      assert.equal(again.text, first.text, 'the same bytes');
      assert.equal(again.signature, first.signature);
      assert.equal((await poll(first.etag)).status, 304);

      // Past half the validity the unchanged content is issued anew: a later version and expiry, a new ETag.
      await new Promise((resolve) => setTimeout(resolve, validityMs / 2 + 200));
      const renewed = await poll(first.etag);
      assert.equal(renewed.status, 200);
      assert.equal(renewed.target?.issued?.version, 2);
      assert.ok(Date.parse(renewed.target?.issued?.expiresAt ?? '') > Date.parse(issued.expiresAt));
      const { issued: _a, ...firstContent } = first.target ?? ({} as TargetState);
      const { issued: _b, ...renewedContent } = renewed.target ?? ({} as TargetState);
      assert.deepEqual(renewedContent, firstContent, 'the same content');
      assert.equal((await poll(renewed.etag)).status, 304);

      // A content change is a new version at once.
      const release2 = await short.createRelease(fleet.name, compose('south'), { meter });
      const changed = await poll(renewed.etag);
      assert.equal(changed.status, 200);
      assert.equal(changed.target?.release?.id, release2.id);
      assert.equal(changed.target?.issued?.version, 3);
    } finally {
      await short.stop();
    }
  });
  // Last in this file: the API's key is another one afterwards.
  it("rotates the API's signing key: announced under the old key, then the only one the device trusts", async () => {
    const [meter1, meter2] = await Promise.all([
      buildTestImage(env, { repo: 'meter' }),
      buildTestImage(env, { repo: 'meter' }),
    ]);
    const fleet = await api.createFleet('fresh-rotation');
    const release1 = await api.createRelease(fleet.name, compose('north'), { meter: meter1 });
    const { dataDir, uuid, supervisor } = await newDevice(fleet);
    await convergedTo(uuid, release1.version);
    const configOf = async (): Promise<SupervisorConfig> =>
      JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig;
    const oldKey = (await configOf()).apiSigningKey;
    assert.equal(oldKey, api.signingKey);
    // As an admin types it: `skiff signing-key [rotate|complete] --json`.
    const admin = async (...args: string[]): Promise<SigningKeyStatus> =>
      JSON.parse(await skiff(api, 'signing-key', ...args, '--json')) as SigningKeyStatus;
    assert.deepEqual(await admin(), { signingKey: oldKey, nextSigningKey: null });

    const started = await admin('rotate');
    const next = started.nextSigningKey ?? '';
    assert.notEqual(next, '');
    assert.equal(started.signingKey, oldKey, 'targets are still signed with the old key');
    await eventually('the device to trust the announced key', 30_000, async () => {
      const c = await configOf();
      return c.apiNextSigningKey === next && c.apiSigningKey === oldKey ? true : undefined;
    });
    const announced = proxy.recorded.get(uuid)?.at(-1)?.target;
    assert.equal(announced?.issued?.nextSigningKey, next, 'the announcement came inside a target');

    assert.deepEqual(await admin('rotate'), started, 'rotating again changes nothing');
    const completed = await admin('complete');
    assert.deepEqual(completed, { signingKey: next, nextSigningKey: null });
    await eventually('the device to trust the new key only', 30_000, async () => {
      const c = await configOf();
      return c.apiSigningKey === next && c.apiNextSigningKey === undefined ? true : undefined;
    });
    assert.ok(supervisor.hasLogged("the API's new signing key is now the only one trusted"));
    const info = (await fetch(`${api.url}${paths.info}`).then((r) => r.json())) as { signingKey: string };
    assert.equal(info.signingKey, next);

    const release2 = await api.createRelease(fleet.name, compose('south'), { meter: meter2 });
    await convergedTo(uuid, release2.version);
    const running = await managedContainers(docker);

    // The old key no longer counts: a target it signs (even with a higher version) is refused.
    const previous = createPrivateKey(await readFile(path.join(api.dataDir, 'signing-key.pem.previous'), 'utf8'));
    let forged = 0;
    proxy.tamper = (value) => {
      const target = value as TargetState;
      forged++;
      return {
        ...target,
        issued: { ...target.issued, version: (target.issued?.version ?? 0) + 1000 },
      };
    };
    proxy.sign = (target) => signTarget(previous, target);
    await api.createRelease(fleet.name, compose('east'), { meter: meter1 });
    await refusalReported(uuid, /signature invalid: .*does not match/, release2.version);
    const seen = forged;
    await eventually('more refused polls', 20_000, async () => (forged >= seen + 3 ? true : undefined));
    assert.deepEqual(idsAndStates(await managedContainers(docker)), idsAndStates(running), 'the same containers run');
    proxy.tamper = null;
    proxy.sign = null;
  });
});

// Developer-signed releases end to end: the real registry-api (in this process, SQLite or PostgreSQL with
// SKIFF_TEST_STORE=postgres), the real `skiff` CLI making the developer's key, registering it with the fleet and
// signing the push, and the real supervisor process on the real device engine, pinning the key in its config. A
// compromised API is played by writing releases straight into the API's store: the API then serves and signs their
// targets as it would any other, and only the developer's signature tells them apart.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Fleet, Release } from '../../protocol/api.js';
import {
  keySetDocument,
  signKeySet,
  signRelease,
  type ReleaseKeys,
  type ReleaseSignature,
} from '../../protocol/release-signature.js';
import { encodePublicKey } from '../../protocol/signature.js';
import type { TargetState } from '../../protocol/target-state.js';
import { ApiClient, ApiProblemError } from '../../cli/api-client.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { skiff } from '../../harness/skiff-cli.js';
import {
  cleanDevice,
  deviceDocker,
  eventually,
  managedContainers,
  type RunningContainer,
} from '../../harness/supervisor-device.js';
import { type SupervisorProcess, SupervisorProcesses } from '../../harness/supervisor-process.js';
import { TamperingProxy } from '../../harness/supervisor-tampering-proxy.js';
import type { ReleaseRecord } from '../../registry-api/store/index.js';

const env = loadTestEnv();
const docker = deviceDocker(env);

function compose(image: string, site: string): string {
  return [
    'services:',
    '  meter:',
    `    image: ${image}`,
    '    environment:',
    `      SITE: ${site}`,
    '    restart: always',
    '',
  ].join('\n');
}

function idsAndStates(containers: RunningContainer[]): [string, string, string][] {
  return containers.map((c) => [c.service, c.id, c.state]);
}

describe('developer-signed releases', function () {
  this.timeout(240_000);
  let api: ApiServer;
  let work: string;
  const devices = new SupervisorProcesses();

  before(async () => {
    api = await ApiServer.start({ registry: env.registry });
    work = await mkdtemp(path.join(tmpdir(), 'skiff-release-signature-'));
    await cleanDevice(docker);
  });

  afterEach(async function () {
    await devices.stopAll(this.currentTest);
    await cleanDevice(docker);
  });

  after(async () => {
    await api.stop();
    await devices.removeDataDirs();
    await rm(work, { recursive: true, force: true });
  });

  /** `skiff push` of a compose file naming `image`, signed with the release key in `keyFile`. */
  async function push(fleet: string, image: string, site: string, keyFile: string): Promise<Release> {
    const dir = await mkdtemp(path.join(work, 'push-'));
    await writeFile(path.join(dir, 'docker-compose.yml'), compose(image, site));
    const pushed = JSON.parse(
      await skiff(api, 'push', dir, '--fleet', fleet, '--release-key', keyFile, '--json'),
    ) as Release;
    const settled = await api.releaseSettled(fleet, pushed.id);
    assert.equal(settled.status, 'ready');
    return settled;
  }

  /** A release the API's routes would never take, written into its store as a compromised API would. */
  async function writeIntoStore(
    like: ReleaseRecord,
    change: { image?: string; site?: string; signature?: ReleaseSignature },
  ): Promise<ReleaseRecord> {
    const services = like.services.map((s) => ({
      ...s,
      ...(change.image === undefined ? {} : { image: change.image }),
      environment: { ...s.environment, ...(change.site === undefined ? {} : { SITE: change.site }) },
    }));
    return api.store.releases.create(
      {
        fleet: like.fleet,
        status: 'ready',
        compose: like.compose,
        services,
        volumes: like.volumes,
        networks: like.networks,
        images: Object.fromEntries(services.map((s) => [s.name, s.image])),
        notes: 'written by a compromised API',
        createdAt: new Date().toISOString(),
        ...(change.signature === undefined ? {} : { signature: change.signature }),
      },
      { actor: 'compromised-api', at: new Date().toISOString() },
    );
  }

  async function startDevice(
    fleet: Fleet,
    releaseKeys: string[],
    apiUrl = api.url,
  ): Promise<{ uuid: string; dataDir: string; supervisor: SupervisorProcess }> {
    const config: SupervisorConfig = {
      apiUrl,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: fleet.deviceType,
      name: `device-of-${fleet.name}`,
      dockerHost: env.deviceDockerHost,
      releaseKeys,
    };
    const dataDir = await devices.dataDir(config);
    const supervisor = devices.start(dataDir, { SKIFF_POLL_INTERVAL_MS: '300', SKIFF_REPORT_INTERVAL_MS: '200' });
    const saved = await eventually('the device to register', 30_000, async () => {
      const c = JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig;
      return c.deviceToken !== undefined && c.uuid !== undefined ? c : undefined;
    });
    return { uuid: saved.uuid ?? '', dataDir, supervisor };
  }

  async function convergedTo(uuid: string, version: string): Promise<void> {
    await eventually(`the API to see release ${version} converged`, 90_000, async () => {
      const device = await api.device(uuid);
      return device.updateStatus === 'converged' && device.runningRelease === version ? true : undefined;
    });
  }

  /** Waits for the device to report refusing `release`, and checks it still runs `running` in full. */
  async function refused(uuid: string, release: ReleaseRecord, running: Release, reason: RegExp): Promise<void> {
    const device = await eventually(`the refusal of release ${release.version} to reach the API`, 30_000, async () => {
      const d = await api.device(uuid);
      return d.targetRelease === release.version && d.updateStatus === 'error' && reason.test(d.error ?? '')
        ? d
        : undefined;
    });
    assert.match(device.error ?? '', reason);
    assert.equal(device.runningRelease, running.version, 'the device still runs the signed release in full');
    assert.equal(device.lastReport?.targetReleaseId, running.id, "the device's own target is still the signed one");
  }

  /** The device's words for refusing `release`'s signature: `why` after naming the release. */
  function releaseRefusal(release: ReleaseRecord, why: string): RegExp {
    return new RegExp(
      `^release ${release.version} \\(${release.id}\\) in target state from the API: signature invalid: ${why}`,
    );
  }

  async function persistedRelease(dataDir: string): Promise<string | undefined> {
    const persisted = JSON.parse(await readFile(path.join(dataDir, 'target.json'), 'utf8')) as {
      target: TargetState;
    };
    return persisted.target.release?.id;
  }

  it('the API takes only pushes signed by a fleet key; the device refuses unsigned, foreign-key and altered releases', async () => {
    const [meter1, meter2, meter3] = await Promise.all([
      buildTestImage(env, { repo: 'meter' }),
      buildTestImage(env, { repo: 'meter' }),
      buildTestImage(env, { repo: 'meter' }),
    ]);
    const fleet = await api.createFleet('signed-releases');

    // The developer's key, made and kept by the CLI; the admin registers it (the first set signs itself). Key files
    // are named explicitly: the CLI's default place is under the home of whoever runs the tests.
    const keyFile = path.join(work, 'developer.pem');
    const publicKey = (await skiff(api, 'release-key', 'create', '--file', keyFile)).trim();
    assert.equal(((await stat(keyFile)).mode & 0o777).toString(8), '600', 'the private key is for its owner only');
    await skiff(api, 'release-keys', 'add', fleet.name, publicKey, '--sign-with', keyFile);
    const keys = JSON.parse(await skiff(api, 'release-keys', 'list', fleet.name, '--json')) as ReleaseKeys;
    assert.equal(keys.version, 1);
    assert.deepEqual(
      keys.keys.map((k) => k.publicKey),
      [publicKey],
    );
    const keyId = keys.keys[0]?.keyId ?? '';

    // Who may change the set: admins only, and only with a set one version up signed by a key trusted now.
    const stranger = generateKeyPairSync('ed25519');
    const strangerKey = encodePublicKey(stranger.publicKey);
    const takeover = signKeySet(stranger.privateKey, keySetDocument(fleet.name, 2, [strangerKey]));
    await api.admin.createUser({ name: 'dev', role: 'developer' });
    const developer = new ApiClient({ baseUrl: api.url, token: (await api.admin.createToken('dev')).token });
    const refusedWith = (status: number, detail: RegExp) => (err: unknown) =>
      err instanceof ApiProblemError && err.problem.status === status && detail.test(err.problem.detail ?? '');
    await assert.rejects(developer.putReleaseKeys(fleet.name, takeover), refusedWith(403, /admin/));
    await assert.rejects(
      api.admin.putReleaseKeys(fleet.name, takeover),
      refusedWith(403, /signed by release key [0-9a-f]{16}…, which is not among the 1 trusted release key/),
    );
    const stale = signKeySet(stranger.privateKey, keySetDocument(fleet.name, 1, [strangerKey]));
    await assert.rejects(
      api.admin.putReleaseKeys(fleet.name, stale),
      refusedWith(409, /has release key set version 1; a change must be version 2, not 1/),
    );
    assert.equal((await api.admin.getReleaseKeys(fleet.name)).version, 1, 'the set is unchanged');

    // Unsigned: refused, saying what the fleet wants.
    await assert.rejects(
      api.admin.createRelease(fleet.name, { compose: compose(meter1, 'north'), images: {} }),
      (err: unknown) =>
        err instanceof ApiProblemError &&
        err.problem.status === 403 &&
        /accepts only releases signed by one of its 1 release key\(s\); this push is unsigned/.test(err.message),
    );
    // Signed by a key the fleet does not trust: refused too.
    const foreignKeyFile = path.join(work, 'stranger.pem');
    await writeFile(foreignKeyFile, stranger.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    await assert.rejects(push(fleet.name, meter1, 'north', foreignKeyFile), /not among the 1 trusted release key/);
    assert.equal((await api.admin.listReleases(fleet.name)).length, 0, 'no refused push left a release');

    const release1 = await push(fleet.name, meter1, 'north', keyFile);
    assert.equal(release1.signedBy, keyId);
    const { uuid, dataDir } = await startDevice(fleet, [publicKey]);
    await convergedTo(uuid, release1.version);
    const running = await managedContainers(docker);
    assert.deepEqual(
      running.map((c) => [c.service, c.state, c.labels['io.skiff.release']]),
      [['meter', 'running', release1.id]],
    );
    const signed = await api.store.releases.get(release1.id);
    assert.ok(signed?.signature);

    // A compromised API writes a release nobody signed; it serves and signs its target like any other.
    const unsigned = await writeIntoStore(signed, { image: meter2 });
    await refused(uuid, unsigned, release1, releaseRefusal(unsigned, 'it is not signed by a release key$'));
    assert.deepEqual(idsAndStates(await managedContainers(docker)), idsAndStates(running), 'the same containers run');

    // Signed, but by a key the device never trusted.
    const foreign = await writeIntoStore(signed, {
      image: meter2,
      signature: signRelease(stranger.privateKey, {
        fleet: fleet.name,
        services: signed.services.map((s) => ({ ...s, image: meter2 })),
        volumes: signed.volumes,
        networks: signed.networks,
      }),
    });
    await refused(
      uuid,
      foreign,
      release1,
      releaseRefusal(foreign, 'it is signed by release key [0-9a-f]{16}…, which is not among the 1 trusted'),
    );
    assert.deepEqual(idsAndStates(await managedContainers(docker)), idsAndStates(running), 'the same containers run');

    // The developer's genuine signature of release 1, on services altered after signing.
    const altered = await writeIntoStore(signed, { site: 'south', signature: signed.signature });
    await refused(
      uuid,
      altered,
      release1,
      releaseRefusal(altered, 'it does not match the content signed by release key'),
    );
    assert.deepEqual(idsAndStates(await managedContainers(docker)), idsAndStates(running), 'the same containers run');
    assert.equal(await persistedRelease(dataDir), release1.id, 'the persisted target is still the signed release');

    // A signed push is taken again: the refusals were the unsigned releases' doing.
    const release2 = await push(fleet.name, meter3, 'north', keyFile);
    await convergedTo(uuid, release2.version);
    const updated = await managedContainers(docker);
    assert.deepEqual(
      updated.map((c) => [c.service, c.state, c.labels['io.skiff.release']]),
      [['meter', 'running', release2.id]],
    );
    assert.equal((await api.device(uuid)).error, null);
  });

  it('a man in the middle holding the API key still cannot slip an unsigned release into a signed target', async () => {
    const meter = await buildTestImage(env, { repo: 'meter' });
    const fleet = await api.createFleet('signed-releases-mitm');
    const keyFile = path.join(work, 'mitm-developer.pem');
    const publicKey = (await skiff(api, 'release-key', 'create', '--file', keyFile)).trim();
    await skiff(api, 'release-keys', 'add', fleet.name, publicKey, '--sign-with', keyFile);
    const release1 = await push(fleet.name, meter, 'north', keyFile);
    const proxy = new TamperingProxy(api.url);
    const proxyUrl = await proxy.listen();
    try {
      const { uuid, dataDir } = await startDevice(fleet, [publicKey], proxyUrl);
      await convergedTo(uuid, release1.version);
      const running = await managedContainers(docker);

      // From now on the proxy rewrites each target: the release's services changed and its developer signature
      // dropped, the whole target then signed anew with the API's own key (as if that key had leaked), its
      // version, expiry and device untouched so that only the release signature can catch it.
      proxy.tamper = (value) => {
        const target = structuredClone(value) as TargetState;
        if (target.release === null) return target;
        const { signature: _dropped, ...release } = target.release;
        return {
          ...target,
          release,
          services: target.services.map((svc) => ({ ...svc, environment: { ...svc.environment, SITE: 'south' } })),
        };
      };
      proxy.sign = (target) => api.signAsApi(target);
      // Any change gives the device a new, higher target version to fetch through the proxy.
      await skiff(api, 'config', 'set', 'TRIGGER', '1', '--fleet', fleet.name);
      const stored = await api.store.releases.get(release1.id);
      assert.ok(stored);
      await refused(uuid, stored, release1, releaseRefusal(stored, 'it is not signed by a release key$'));
      assert.deepEqual(idsAndStates(await managedContainers(docker)), idsAndStates(running), 'the same containers run');
      assert.equal(await persistedRelease(dataDir), release1.id);
    } finally {
      await proxy.close();
    }
  });

  it('a new release key reaches the device only in a key set signed by a key it trusts', async () => {
    const [meter1, meter2] = await Promise.all([
      buildTestImage(env, { repo: 'meter' }),
      buildTestImage(env, { repo: 'meter' }),
    ]);
    const fleet = await api.createFleet('signed-key-sets');
    const firstFile = path.join(work, 'first.pem');
    const secondFile = path.join(work, 'second.pem');
    const first = (await skiff(api, 'release-key', 'create', '--file', firstFile)).trim();
    const second = (await skiff(api, 'release-key', 'create', '--file', secondFile)).trim();
    await skiff(api, 'release-keys', 'add', fleet.name, first, '--sign-with', firstFile);
    const release1 = await push(fleet.name, meter1, 'north', firstFile);
    // The device pins the first key only.
    const { uuid, dataDir } = await startDevice(fleet, [first]);
    await convergedTo(uuid, release1.version);

    // The admin trusts the second key, signing the new set with the first: the device learns it from its target.
    await skiff(api, 'release-keys', 'add', fleet.name, second, '--sign-with', firstFile);
    const release2 = await push(fleet.name, meter2, 'north', secondFile);
    await convergedTo(uuid, release2.version);
    const kept = JSON.parse(await readFile(path.join(dataDir, 'release-keys.json'), 'utf8')) as {
      document: { version: number; keys: string[] };
    };
    assert.equal(kept.document.version, 2);
    assert.deepEqual(kept.document.keys, [first, second].sort());

    // The first key is retired (signed by the second): the API takes no more pushes signed with it, and the device
    // stops trusting it once its target brings the new set.
    await skiff(api, 'release-keys', 'remove', fleet.name, first, '--sign-with', secondFile);
    await assert.rejects(push(fleet.name, meter1, 'south', firstFile), /not among the 1 trusted release key/);
    await eventually('the device to take key set version 3', 30_000, async () => {
      const set = JSON.parse(await readFile(path.join(dataDir, 'release-keys.json'), 'utf8')) as {
        document: { version: number; keys: string[] };
      };
      return set.document.version === 3 ? set : undefined;
    }).then((set) => assert.deepEqual(set.document.keys, [second]));
    const running = await managedContainers(docker);

    // A compromised API swaps in a key set of its own (signed by its own key) and a release signed by that key.
    const { privateKey: rogue, publicKey: roguePublic } = generateKeyPairSync('ed25519');
    const rogueSet = signKeySet(rogue, keySetDocument(fleet.name, 4, [encodePublicKey(roguePublic), first, second]));
    await api.store.releaseKeys.replace(fleet.name, rogueSet, {
      actor: 'compromised-api',
      at: new Date().toISOString(),
    });
    const current = await api.store.releases.get(release2.id);
    assert.ok(current);
    const rogueRelease = await writeIntoStore(current, {
      site: 'rogue',
      signature: signRelease(rogue, {
        fleet: fleet.name,
        services: current.services.map((s) => ({ ...s, environment: { ...s.environment, SITE: 'rogue' } })),
        volumes: current.volumes,
        networks: current.networks,
      }),
    });
    await refused(
      uuid,
      rogueRelease,
      release2,
      /^release key set version 4 in target state from the API: signature invalid: it is signed by release key [0-9a-f]{16}…, which is not among the 1 trusted/,
    );
    assert.deepEqual(idsAndStates(await managedContainers(docker)), idsAndStates(running), 'the same containers run');
  });
});

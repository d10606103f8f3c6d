// Delta generation as the API runs it: a release turns ready (the verification job found its images), which queues
// the generate-deltas job on BullMQ in the environment's real Redis, which stores the patch artifact in the registry
// (tag skiff-delta-<config hex>). Also: the sources are what the fleet's devices report running before the earlier
// ready releases (real store), and generation works against the token-auth registry with the job's own token.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { createLogger } from '../../lib/logger.js';
import { DeltaManifestSchema, deltaTagOf, patchesOf, type LayerPatch } from '../../protocol/delta.js';
import { ImageConfigSchema, ImageManifestSchema } from '../../protocol/oci-image.js';
import type { StateReport } from '../../protocol/state-report.js';
import { parse } from '../../protocol/validate.js';
import { DEFAULT_DELTA_SETTINGS, generateImageDeltas } from '../../registry-api/delivery/delta/generate.js';
import { RegistryClient as RegistryIo, type RepositoryRef } from '../../lib/registry/client.js';
import { deltaSources } from '../../registry-api/jobs/delta-sources.js';
import { JOB_NAMES, QUEUE_NAME, jobIdOf } from '../../registry-api/jobs/index.js';
import { deltaRegistryIo } from '../../registry-api/jobs/start.js';
import { registryTokenIssuerOf } from '../../registry-api/delivery/registry-token.js';
import type { ReleaseRecord, Store } from '../../registry-api/store/index.js';
import { openStore } from '../../registry-api/store/open.js';
import { buildReleasePair, type PushedImage } from '../../bench/support/delta-images.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv, type TestEnv } from '../../harness/env.js';
import { testStoreLocation, type TestStoreLocation } from '../../harness/test-store.js';

const log = createLogger('test-delta-jobs');
log.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
const PACKAGES = ['ajv', 'yaml', 'commander', 'semver'];
const COMPOSE = 'services:\n  app:\n    build: ./app\n    restart: always\n';

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The image's uncompressed layer digests, from its config in the registry. */
async function diffIdsOf(io: RegistryIo, ref: RepositoryRef, image: PushedImage): Promise<string[]> {
  const config = parse(
    ImageConfigSchema,
    JSON.parse((await io.blobBytes(ref, image.config.digest)).toString('utf8')),
    `config of ${image.ref}`,
  );
  return config.rootfs.diff_ids;
}

async function storedPatches(io: RegistryIo, ref: RepositoryRef, configDigest: string): Promise<LayerPatch[] | null> {
  const stored = await io.manifest(ref, deltaTagOf(configDigest));
  return stored === null
    ? null
    : patchesOf(parse(DeltaManifestSchema, JSON.parse(stored.body.toString('utf8')), 'delta artifact'));
}

describe('delta jobs (real API, BullMQ on Redis, registry)', function () {
  this.timeout(300_000);
  let env: TestEnv;
  const io = new RegistryIo();

  before(() => {
    env = loadTestEnv();
  });

  it('a release turning ready queues generate-deltas on BullMQ, which stores the patch artifact', async () => {
    const api = await ApiServer.start({ registry: env.registry, redisUrl: env.redisUrl });
    const queue = new Queue(QUEUE_NAME, {
      connection: { url: env.redisUrl },
      prefix: `skiff-test-${path.basename(api.dataDir).replace(/[^A-Za-z0-9]/g, '')}`,
    });
    try {
      const repository = `skiff-test/delta-jobs-${randomUUID().slice(0, 8)}`;
      const { first, second } = await buildReleasePair(env, {
        base: 'skiff/busybox:base',
        packages: PACKAGES,
        bumped: 'semver',
        repository,
      });
      const fleet = `deltas-${randomUUID().slice(0, 8)}`;
      await api.createFleet(fleet);
      const r1 = await api.createRelease(fleet, COMPOSE, { app: first.ref });
      const r2 = await api.createRelease(fleet, COMPOSE, { app: second.ref });
      const ref = { registry: env.registry, repository };

      const patches = await until('the delta artifact of release 2', 240_000, () =>
        storedPatches(io, ref, second.config.digest),
      );
      const [fromIds, toIds] = [await diffIdsOf(io, ref, first), await diffIdsOf(io, ref, second)];
      // Base layer shared; package.json, node_modules and app each get a patch from release 1's layer at their place.
      assert.deepEqual(
        patches.map((p) => p.toDiffId),
        toIds.slice(1),
      );
      assert.deepEqual(
        patches.map((p) => p.fromDiffId),
        fromIds.slice(1),
      );
      const changed = second.layers.slice(1).reduce((s, l) => s + l.size, 0);
      const patchBytes = patches.reduce((s, p) => s + p.size, 0);
      assert.ok(patchBytes < changed * 0.2, `patches ${patchBytes} bytes, changed layers ${changed}`);
      // Every patch blob is in the target's repository under its digest.
      for (const p of patches) assert.ok(await io.hasBlob(ref, p.digest), `patch blob ${p.digest}`);

      // It was BullMQ that ran both jobs: release 1's (no source: nothing stored) and release 2's.
      for (const release of [r1, r2]) {
        const job = await until(`the generate-deltas job of release ${release.version}`, 30_000, async () => {
          const found = await queue.getJob(jobIdOf(JOB_NAMES.generateDeltas, release.id));
          return found !== undefined && (await found.isCompleted()) ? found : null;
        });
        assert.equal(job.name, JOB_NAMES.generateDeltas);
        assert.deepEqual(job.data, { releaseId: release.id });
      }
      assert.equal(await storedPatches(io, ref, first.config.digest), null, 'release 1 had no source: no artifact');
    } finally {
      await queue.close();
      await api.stop();
    }
  });

  it("without Redis the API's own queue generates the patches too (same handlers)", async () => {
    const api = await ApiServer.start({ registry: env.registry, redisUrl: null });
    try {
      const repository = `skiff-test/delta-inproc-${randomUUID().slice(0, 8)}`;
      const { first, second } = await buildReleasePair(env, {
        base: 'skiff/busybox:base',
        packages: PACKAGES,
        bumped: 'semver',
        repository,
      });
      const fleet = `deltas-${randomUUID().slice(0, 8)}`;
      await api.createFleet(fleet);
      await api.createRelease(fleet, COMPOSE, { app: first.ref });
      await api.createRelease(fleet, COMPOSE, { app: second.ref });
      const patches = await until('the delta artifact of release 2', 240_000, () =>
        storedPatches(io, { registry: env.registry, repository }, second.config.digest),
      );
      assert.equal(patches.length, 3);
    } finally {
      await api.stop();
    }
  });

  it("generates and stores patches in the token-auth registry with the job's own token", async () => {
    const issuer = registryTokenIssuerOf({
      keyFile: env.authRegistry.tokenKeyFile,
      service: env.authRegistry.service,
      issuer: env.authRegistry.issuer,
    });
    const authIo = deltaRegistryIo({ registryToken: issuer });
    const repository = `auth-deltas-${randomUUID().slice(0, 8)}/app`;
    const { first, second } = await buildReleasePair(env, {
      base: 'skiff/busybox:base',
      packages: PACKAGES,
      bumped: 'semver',
      repository,
    });
    const open = { registry: env.registry, repository };
    const auth = { registry: env.authRegistry.address, repository };
    // Anonymous access is refused: what follows needs the token.
    await assert.rejects(new RegistryIo().blobBytes(auth, first.config.digest), /401/);
    for (const image of [first, second]) {
      const manifest = await io.manifest(open, image.digest);
      assert.ok(manifest !== null);
      const parsed = parse(ImageManifestSchema, JSON.parse(manifest.body.toString('utf8')), image.ref);
      for (const blob of [parsed.config, ...parsed.layers])
        await authIo.pushBlob(auth, blob.digest, { bytes: await io.blobBytes(open, blob.digest) });
      await authIo.putManifest(auth, image.digest, manifest.mediaType, manifest.body);
    }
    const [generated] = await generateImageDeltas(
      authIo,
      `${auth.registry}/${repository}@${second.digest}`,
      [`${auth.registry}/${repository}@${first.digest}`],
      DEFAULT_DELTA_SETTINGS,
      log,
    );
    assert.equal(generated?.tag, deltaTagOf(second.config.digest));
    assert.equal(generated.patches.length, 3);
    const stored = await storedPatches(authIo, auth, second.config.digest);
    assert.deepEqual(
      stored?.map((p) => p.digest),
      generated.patches.map((p) => p.digest),
    );
    for (const p of generated.patches) assert.ok(await authIo.hasBlob(auth, p.digest));
  });
});

describe('delta sources (real store)', () => {
  let dir: string;
  let database: TestStoreLocation;
  let store: Store;
  const stamp = { actor: 'test', at: new Date().toISOString() };
  const fleet = 'meters';

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'skiff-delta-sources-'));
    database = await testStoreLocation(dir);
    store = await openStore(database.location);
    await store.fleets.create(
      {
        name: fleet,
        deviceType: 'raspberrypi4-64',
        deviceTypes: ['raspberrypi4-64'],
        provisioningKeyHash: 'k'.repeat(64),
        pollIntervalSeconds: 60,
        createdAt: stamp.at,
      },
      stamp,
    );
  });

  afterEach(async () => {
    await store.close();
    await database.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  async function release(n: number): Promise<ReleaseRecord> {
    return store.releases.create(
      {
        fleet,
        version: String(n),
        status: 'ready',
        compose: COMPOSE,
        services: [],
        volumes: [],
        networks: [],
        images: { app: `127.0.0.1:5000/app@sha256:${String(n).repeat(64).slice(0, 64)}` },
        notes: null,
        createdAt: new Date(Date.UTC(2024, 0, n)).toISOString(),
      },
      stamp,
    );
  }

  async function deviceRunning(releaseId: string | null, serviceReleases: string[] = []): Promise<void> {
    const uuid = randomUUID();
    await store.devices.preauthorize({ uuid, fleet, deviceType: 'raspberrypi4-64', publicKey: `key-${uuid}` }, stamp);
    const report: StateReport = {
      supervisorVersion: '0.0.0',
      updateStatus: 'converged',
      targetReleaseId: releaseId,
      releaseId,
      error: null,
      reportedAt: stamp.at,
      services: serviceReleases.map((id, i) => ({
        name: `s${i}`,
        releaseId: id,
        image: 'x',
        containerId: null,
        state: 'running',
        health: null,
        exitCode: null,
      })),
    };
    await store.devices.saveReport(uuid, report, stamp.at);
  }

  it('takes what devices report running (most devices first), then earlier ready releases, distinct and capped', async () => {
    const [r1, r2, r3, r4, r5] = [
      await release(1),
      await release(2),
      await release(3),
      await release(4),
      await release(5),
    ];
    assert.ok(r1 && r2 && r3 && r4 && r5);
    // Nobody reports anything yet: the fleet's earlier ready releases, newest first.
    assert.deepEqual(
      (await deltaSources(store, r5)).map((r) => r.version),
      ['4', '3', '2'],
    );
    await deviceRunning(r1.id);
    await deviceRunning(r1.id);
    // Mid-update: services of release 2 and 1; no single release.
    await deviceRunning(null, [r2.id, r1.id]);
    // The target itself and a release the store does not know are no sources.
    await deviceRunning(r5.id);
    await deviceRunning('no-such-release');
    assert.deepEqual(
      (await deltaSources(store, r5)).map((r) => r.version),
      ['1', '2', '4'],
    );
    assert.deepEqual(
      (await deltaSources(store, r5, 4)).map((r) => r.version),
      ['1', '2', '4', '3'],
    );
    assert.deepEqual(
      (await deltaSources(store, r5, 1)).map((r) => r.version),
      ['1'],
    );
  });
});

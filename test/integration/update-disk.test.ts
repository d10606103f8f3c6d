// Disk space and image clean-up on the real engine and registry: images come through Skiff's own fetcher (so they
// carry its REGISTRY/REPO:sha256-HEX tags), the disk facts come from the registry's manifests and the engine. The
// engine's disk is large, so an image quota (disk-facts.ts) plays the small disk: free space is then the quota
// less what the engine's images take, measured by the engine, so removing an image really makes room.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TargetState } from '../../protocol/target-state.js';
import { createLogger } from '../../lib/logger.js';
import { gatherDiskFacts } from '../../supervisor/images/disk-facts.js';
import { RESERVE_BYTES } from '../../supervisor/plan/disk-space.js';
import { connectEngine, DockerEngine } from '../../supervisor/engine/engine.js';
import { ImageCleanup, isSkiffImage } from '../../supervisor/images/cleanup.js';
import { ImageDelivery } from '../../supervisor/images/delivery.js';
import { BlobStore } from '../../supervisor/images/download/blob-store.js';
import { partialBytes } from '../../supervisor/images/download/partial-file.js';
import { resolveLocalImage } from '../../supervisor/images/local-image.js';
import { Reconciler, type ReconcilerOptions } from '../../supervisor/reconcile/reconciler.js';
import { RegistryClient } from '../../lib/registry/client.js';
import { buildImage, pushImage } from '../../harness/engine-build.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildLayeredImage } from '../../harness/layered-image.js';
import { BASE_IMAGE, buildTestImage, PROMPT_STOP_COMMAND } from '../../harness/images.js';
import { cleanDevice, deviceDocker, managedContainers } from '../../harness/supervisor-device.js';
import { serviceSpec, targetState } from '../../harness/supervisor-targets.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const log = createLogger('test-update-disk', { test: 'integration' });
const engine = new DockerEngine(docker, log);
const MB = 1024 * 1024;
const run = promisify(execFile);

/** An image with its own layer of `megabytes` random (incompressible) bytes on top of the busybox base. */
async function bulkyImage(megabytes: number): Promise<string> {
  const dev = connectEngine(env.devDockerHost);
  const repo = `${env.registry}/skiff-test/bulky`;
  const tag = `${repo}:${randomBytes(8).toString('hex')}`;
  const dir = await mkdtemp(path.join(tmpdir(), 'skiff-bulky-'));
  try {
    await writeFile(path.join(dir, 'payload'), randomBytes(megabytes * MB));
    await writeFile(
      path.join(dir, 'Dockerfile'),
      `FROM ${BASE_IMAGE}\nCOPY payload /payload\nCMD ${JSON.stringify(PROMPT_STOP_COMMAND)}\n`,
    );
    await buildImage(dev, dir, ['Dockerfile', 'payload'], { tag });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const digest = await pushImage(dev, tag, env.registry);
  await dev.json('DELETE', `/images/${tag}`);
  return `${repo}@${digest}`;
}

function release(id: string, image: string): TargetState {
  return targetState([serviceSpec('app', image)], { releaseId: id });
}

async function has(image: string): Promise<boolean> {
  return (await resolveLocalImage(engine, image)) !== undefined;
}

async function imagesBytes(): Promise<number> {
  return (await engine.diskUsage()).imagesBytes;
}

/** Images Skiff loaded that no container uses: left by earlier tests, they would blur what is measured here. */
async function removeUnusedSkiffImages(): Promise<void> {
  for (const image of (await engine.listImages()).filter(isSkiffImage)) await engine.removeImage(image.id);
}

describe('update disk check and image clean-up (real engine and registry)', function () {
  this.timeout(180_000);
  let dataDir: string;

  beforeEach(async () => {
    await cleanDevice(docker, { volumes: true });
    await removeUnusedSkiffImages();
    dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-disk-'));
  });

  after(async () => {
    await cleanDevice(docker, { volumes: true });
    await removeUnusedSkiffImages();
  });

  afterEach(async () => rm(dataDir, { recursive: true, force: true }));

  function reconciler(options: { quotaBytes?: () => number; cleanup?: boolean } = {}): Reconciler {
    const delivery = new ImageDelivery({ engine, dataDir, credentials: () => undefined, log });
    const registry = new RegistryClient({ log });
    const cleanup = new ImageCleanup(path.join(dataDir, 'image-history.json'), engine, log);
    const reconcilerOptions: ReconcilerOptions = {
      engine,
      log,
      retry: { initialMs: 100, maxMs: 500 },
      fetchImage: (image, signal) => delivery.fetch(image, signal),
      diskFacts: (missing, current, target) =>
        gatherDiskFacts(
          { engine, registry, log, imageQuotaBytes: options.quotaBytes?.(), downloads: delivery.store },
          missing,
          current,
          target,
        ),
      ...(options.cleanup === true
        ? {
            cleanup: async (current, target) => {
              await cleanup.afterConverged(current, target);
            },
          }
        : {}),
    };
    return new Reconciler(reconcilerOptions);
  }

  async function converge(r: Reconciler, target: TargetState): Promise<void> {
    r.setTarget(target);
    await r.runPass();
    assert.equal(r.currentStatus().phase, 'converged', r.currentStatus().error ?? '');
    const [app] = await managedContainers(docker);
    assert.equal(app?.labels['io.skiff.release'], target.release?.id);
  }

  it("keeps the running and the previous release's images and removes older ones once an update converged", async () => {
    const [a, b, c] = await Promise.all(
      ['a', 'b', 'c'].map((repo) => buildTestImage(env, { repo: `cleanup-${repo}` })),
    );
    assert.ok(a !== undefined && b !== undefined && c !== undefined);
    const r = reconciler({ cleanup: true });
    await converge(r, release('r1', a));
    await converge(r, release('r2', b));
    assert.ok(await has(a), 'r1 is the previous release: its image stays');
    await converge(r, release('r3', c));
    assert.equal(await has(a), false, "r1's image is removed once two newer releases ran");
    assert.ok(await has(b), "r2's image stays for a rollback");
    assert.ok(await has(c));
    // Rolling back to r2 needs no download and keeps r3's image as the previous one.
    await converge(r, release('r2', b));
    assert.ok(await has(c));
  });

  it('refuses a release that does not fit, reports why and leaves the running release untouched', async () => {
    const [old, next] = await Promise.all([buildTestImage(env, { repo: 'disk-old' }), bulkyImage(4)]);
    let quota = Number.MAX_SAFE_INTEGER;
    const r = reconciler({ quotaBytes: () => quota });
    await converge(r, release('r1', old));
    const [before] = await managedContainers(docker);
    // Room for less than the reserve: nothing Skiff loaded is unused, so nothing can be removed for it.
    quota = (await imagesBytes()) + RESERVE_BYTES / 2;
    r.setTarget(release('r2', next));
    await r.runPass();
    const status = r.currentStatus();
    assert.equal(status.phase, 'error');
    assert.match(
      status.error ?? '',
      /not enough disk space for the update: it needs 1[2-3] MB \(\+64 MB kept free\), 32 MB free on \//,
    );
    assert.equal(await has(next), false, 'nothing of r2 was downloaded');
    assert.deepEqual(await managedContainers(docker), [before], 'r1 runs as before');
    assert.equal(before?.state, 'running');
  });

  it('removes unused images first when that makes room, largest first, only as many as needed', async () => {
    const [bulky, smallOld, running, next] = await Promise.all([
      bulkyImage(16),
      buildTestImage(env, { repo: 'disk-small' }),
      buildTestImage(env, { repo: 'disk-running' }),
      buildTestImage(env, { repo: 'disk-next' }),
    ]);
    let quota = Number.MAX_SAFE_INTEGER;
    const r = reconciler({ quotaBytes: () => quota });
    await converge(r, release('r0', bulky));
    await converge(r, release('r1', smallOld));
    await converge(r, release('r2', running));
    // r0's and r1's images are unused now; r3 needs a few KB and room is 8 MB short of the reserve: removing the
    // 16 MB image is enough, the small one is not needed.
    quota = (await imagesBytes()) + RESERVE_BYTES - 8 * MB;
    await converge(r, release('r3', next));
    assert.equal(await has(bulky), false, 'the large unused image made room');
    assert.ok(await has(smallOld), 'the small unused image was not needed for room and stays');
    assert.ok(await has(next));
  });

  describe("with the supervisor's data directory on a small partition (tmpfs)", () => {
    /** Mounts an 8 MB tmpfs on the test's data directory (tests run as root); unmounted after each test. */
    beforeEach(async () => {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dataDir]);
    });

    afterEach(async () => {
      // A download still writing (a failed test) keeps it busy: detached then, freed when the file closes.
      await run('umount', [dataDir]).catch(() => run('umount', ['-l', dataDir]));
    });

    it('refuses a release whose blobs do not fit there, says so, keeps running, and takes a smaller one', async () => {
      const [old, bulky, small] = await Promise.all([
        buildTestImage(env, { repo: 'data-disk-old' }),
        bulkyImage(12),
        buildTestImage(env, { repo: 'data-disk-small' }),
      ]);
      const r = reconciler();
      await converge(r, release('r1', old));
      const [before] = await managedContainers(docker);
      r.setTarget(release('r2', bulky));
      await r.runPass();
      const status = r.currentStatus();
      assert.equal(status.phase, 'error');
      assert.match(
        status.error ?? '',
        new RegExp(
          `not enough space in the supervisor's download directory for the update: its images need 1[2-3] MB more there \\(\\+1 MB kept free\\), [78] MB free in ${dataDir}/blobs`,
        ),
      );
      assert.equal(await has(bulky), false, 'nothing of r2 was loaded');
      assert.deepEqual(await managedContainers(docker), [before], 'r1 runs as before');
      assert.equal(before?.state, 'running');
      // A pin to a smaller release goes through.
      await converge(r, release('r3', small));
      assert.ok(await has(small));
    });

    it("drops a changed target's partial downloads when the new target does not fit beside them", async () => {
      const [old, small] = await Promise.all([
        buildTestImage(env, { repo: 'data-disk-old' }),
        buildTestImage(env, { repo: 'data-disk-small' }),
      ]);
      const r = reconciler();
      await converge(r, release('r1', old));
      // Half of a larger release that was the target before a pin back: 7.5 MB of an 8 MB partition.
      const store = new BlobStore(path.join(dataDir, 'blobs'));
      await mkdir(store.partialDir, { recursive: true });
      const stale = path.join(store.partialDir, `${'ab'.repeat(32)}.partial`);
      await writeFile(stale, randomBytes(7.5 * MB));
      await converge(r, release('r3', small));
      assert.ok(await has(small));
      assert.equal(await partialBytes(store.partialDir, `sha256:${'ab'.repeat(32)}`), 0, 'the stale partial is gone');
    });

    it('ends a download that fills the partition with an error, and drops what it held', async () => {
      const image = await buildLayeredImage(env, [12 * MB]);
      const layer = image.layers[image.layers.length - 1]!;
      const store = new BlobStore(path.join(dataDir, 'blobs'));
      const fetching = store.fetch(`http://${env.registry}/v2/${image.repository}/blobs/${layer.digest}`, {
        digest: layer.digest,
        size: layer.size,
        retry: { initialMs: 50, maxMs: 200 },
        log,
        signal: AbortSignal.timeout(30_000),
      });
      await assert.rejects(fetching, (err: Error) => {
        assert.equal(err.name, 'DownloadError', err.message);
        assert.match(
          err.message,
          /^no space left in .*\/partial for blob sha256:[0-9a-f]{64} \(\d+ of \d+ bytes held, dropped\)/,
        );
        return true;
      });
      assert.equal(await partialBytes(store.partialDir, layer.digest), 0, 'the partial file holds nothing');
      const { stdout } = await run('df', ['--output=avail', '-B1', dataDir]);
      assert.ok(Number(stdout.trim().split('\n').pop()) > 7 * MB, 'the partition has its space back');
    });
  });
});

// An update reads each manifest from the registry once, on a metered link: the disk check before the download and
// the fetcher both need it, and the device's one registry client keeps what it read (content-addressed by digest).
// Real engine and registry; every request counted by the project's proxy in front of the registry. Wired as
// supervisor.ts wires it: the disk facts read through the image delivery's registry client.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../lib/logger.js';
import { MEDIA_TYPES } from '../../protocol/oci-image.js';
import type { TargetState } from '../../protocol/target-state.js';
import { RegistryClient as RegistryIo } from '../../lib/registry/client.js';
import { gatherDiskFacts } from '../../supervisor/images/disk-facts.js';
import { DockerEngine } from '../../supervisor/engine/engine.js';
import { ImageDelivery } from '../../supervisor/images/delivery.js';
import { hostPlatform } from '../../supervisor/images/fetcher.js';
import { localImageRef } from '../../supervisor/images/local-image.js';
import { Reconciler } from '../../supervisor/reconcile/reconciler.js';
import { loadTestEnv } from '../../harness/env.js';
import { FaultProxy } from '../../harness/fault-proxy.js';
import { buildLayeredImage } from '../../harness/layered-image.js';
import { cleanDevice, deviceDocker, managedContainers } from '../../harness/supervisor-device.js';
import { serviceSpec, targetState } from '../../harness/supervisor-targets.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const log = createLogger('test-manifest-once', { test: 'integration' });
log.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
const engine = new DockerEngine(docker, log);

describe('an update reads each manifest once (real engine and registry, requests counted by a proxy)', function () {
  this.timeout(180_000);
  let proxy: FaultProxy;
  let dataDir: string;
  const images: string[] = [];

  before(async () => {
    proxy = new FaultProxy(env.registry, { cutProbability: 0, seed: 1 });
    await proxy.start();
    dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-manifest-once-'));
    await cleanDevice(docker);
  });

  after(async () => {
    await cleanDevice(docker);
    for (const image of images) await engine.removeImage(localImageRef(image)).catch(() => undefined);
    await proxy?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** A layered image in the environment's registry, named through the proxy. */
  async function image(repo: string): Promise<{ ref: string; repository: string; digest: string }> {
    const built = await buildLayeredImage(env, [200_000], repo);
    return {
      ref: `${proxy.address()}/${built.repository}@${built.digest}`,
      repository: built.repository,
      digest: built.digest,
    };
  }

  /** A manifest list with one entry, for this machine's platform, pushed by digest; named through the proxy. */
  async function listOf(child: { repository: string; digest: string }): Promise<string> {
    const io = new RegistryIo();
    const repo = { registry: env.registry, repository: child.repository };
    const manifest = await io.manifest(repo, child.digest);
    assert.ok(manifest !== null);
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.dockerManifestList,
        manifests: [
          { mediaType: manifest.mediaType, digest: child.digest, size: manifest.body.length, platform: hostPlatform() },
        ],
      }),
    );
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    await io.putManifest(repo, digest, MEDIA_TYPES.dockerManifestList, body);
    return `${proxy.address()}/${child.repository}@${digest}`;
  }

  async function converge(reconciler: Reconciler, target: TargetState): Promise<void> {
    reconciler.setTarget(target);
    await reconciler.runPass();
    assert.equal(reconciler.currentStatus().phase, 'converged', reconciler.currentStatus().error ?? '');
    const running = await managedContainers(docker);
    assert.deepEqual(
      running.map((c) => [c.service, c.labels['io.skiff.release'], c.state]).sort(),
      target.services.map((s) => [s.name, target.release?.id, 'running']).sort(),
    );
  }

  /** GETs of manifests by digest that reached the registry, per digest. */
  function manifestGets(since: number): Map<string, number> {
    const counts = new Map<string, number>();
    for (const r of proxy.requests.slice(since)) {
      const digest = /\/manifests\/(sha256:[a-f0-9]{64})$/.exec(r.path)?.[1];
      if (r.method === 'GET' && digest !== undefined) counts.set(digest, (counts.get(digest) ?? 0) + 1);
    }
    return counts;
  }

  it('the disk check and the fetcher share one read of every manifest, a manifest list and its entry included', async () => {
    const [a, b, c] = [await image('once-a'), await image('once-b'), await image('once-c')];
    const list = await listOf(c);
    images.push(a.ref, b.ref, list);
    const delivery = new ImageDelivery({ engine, dataDir, credentials: () => undefined, log });
    const reconciler = new Reconciler({
      engine,
      log,
      retry: { initialMs: 100, maxMs: 500 },
      fetchImage: (ref, signal) => delivery.fetch(ref, signal),
      diskFacts: (missing, current, target) =>
        gatherDiskFacts({ engine, registry: delivery.registry, log }, missing, current, target),
    });

    let since = proxy.requests.length;
    await converge(reconciler, targetState([serviceSpec('app', a.ref)], { releaseId: 'r1' }));
    assert.deepEqual([...manifestGets(since)], [[a.digest, 1]]);

    // The update: a new image for app, and a second service whose image is named by a manifest list.
    since = proxy.requests.length;
    await converge(
      reconciler,
      targetState([serviceSpec('app', b.ref), serviceSpec('meter', list)], { releaseId: 'r2' }),
    );
    const listDigest = list.split('@')[1] ?? '';
    const gets = manifestGets(since);
    assert.deepEqual(
      [...gets].sort(),
      [
        [b.digest, 1],
        [c.digest, 1],
        [listDigest, 1],
      ].sort(),
      proxy.requests
        .slice(since)
        .map((r) => `${r.method} ${r.path}`)
        .join('\n'),
    );
    // The disk check did run (it read each image's config), so the single GET served both.
    const configReads = proxy.requests
      .slice(since)
      .filter((r) => r.method === 'GET' && r.path.includes('/blobs/') && r.range === null);
    assert.ok(
      configReads.length >= 2,
      `the disk check read the images' configs: ${configReads.map((r) => r.path).join(', ')}`,
    );
  });
});

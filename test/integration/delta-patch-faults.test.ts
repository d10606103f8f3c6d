// A patch blob that never arrives intact (the fault proxy flips a byte in every answer for it): the device tries it a
// bounded number of times, then pulls that one layer whole; the other patches still count, and the image is the
// release's. Without the bound the downloader would fetch the patch until the caller's signal gave up.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../lib/logger.js';
import { DEFAULT_DELTA_SETTINGS, generateImageDeltas } from '../../registry-api/delivery/delta/generate.js';
import { RegistryClient as RegistryIo } from '../../lib/registry/client.js';
import { DeltaRebuilder, PATCH_DIGEST_ATTEMPTS } from '../../supervisor/images/delta/rebuild.js';
import { BlobStore } from '../../supervisor/images/download/blob-store.js';
import { TokenBucket } from '../../supervisor/images/bandwidth/token-bucket.js';
import { dockerEngine, type Engine } from '../../supervisor/engine/engine.js';
import { ImageFetcher, type ImageProgress } from '../../supervisor/images/fetcher.js';
import { RegistryClient } from '../../lib/registry/client.js';
import { buildReleasePair, type PushedImage } from '../../bench/support/delta-images.js';
import { FaultProxy } from '../../harness/fault-proxy.js';
import { loadTestEnv, type TestEnv } from '../../harness/env.js';

const log = createLogger('test-delta-patch-faults');
log.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';

describe('delta patch faults (real registry, engine, fault proxy)', function () {
  this.timeout(300_000);
  let env: TestEnv;
  let engine: Engine;
  let dataDir: string;
  let proxy: FaultProxy | undefined;

  before(() => {
    env = loadTestEnv();
    engine = dockerEngine(env.deviceDockerHost, log);
  });

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-delta-faults-'));
  });

  afterEach(async () => {
    await proxy?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  function fetcher(): ImageFetcher {
    const registry = new RegistryClient({ log });
    const store = new BlobStore(path.join(dataDir, 'blobs'));
    const bucket = new TokenBucket(null);
    const retry = { initialMs: 20, maxMs: 200 };
    return new ImageFetcher({
      engine,
      registry,
      store,
      bucket,
      log,
      retry,
      deltas: new DeltaRebuilder({ engine, registry, store, bucket, log, workDir: path.join(dataDir, 'delta'), retry }),
    });
  }

  it('pulls the layer of a patch that keeps arriving corrupt whole after a bounded number of tries', async () => {
    const repository = 'skiff-test/delta-faults';
    const { first, second } = await buildReleasePair(env, {
      base: 'skiff/busybox:base',
      packages: ['ajv', 'yaml', 'commander', 'semver'],
      bumped: 'semver',
      repository,
    });
    const images: PushedImage[] = [first, second];
    try {
      const [generated] = await generateImageDeltas(
        new RegistryIo(),
        second.ref,
        [first.ref],
        DEFAULT_DELTA_SETTINGS,
        log,
      );
      assert.equal(generated?.patches.length, 3);
      const victim = generated.patches.reduce((a, b) => (a.size >= b.size ? a : b));
      proxy = new FaultProxy(env.registry, { cutProbability: 0, corruptAlways: new Set([victim.digest]), seed: 7 });
      await proxy.start();
      const via = (image: PushedImage): string => `${proxy!.address()}/${repository}@${image.digest}`;
      const device = fetcher();
      await device.fetch(via(first));

      const seen: ImageProgress[] = [];
      const sampler = setInterval(() => seen.push(...device.progress()), 5);
      // The signal is the unbounded downloader's only way out: the fetch must end long before it.
      const result = await device
        .fetch(via(second), AbortSignal.timeout(120_000))
        .finally(() => clearInterval(sampler));
      assert.equal(result.imageId, second.config.digest);
      assert.equal(result.layersPatched, 2, 'the two intact patches were used');

      const patchPath = `/v2/${repository}/blobs/${victim.digest}`;
      const patchRequests = proxy.requests.filter((r) => r.path === patchPath);
      assert.equal(
        patchRequests.length,
        PATCH_DIGEST_ATTEMPTS,
        'the corrupt patch was fetched a bounded number of times',
      );
      assert.ok(patchRequests.every((r) => r.corrupted));
      const layerIndex = second.layers.length - generated.patches.length + generated.patches.indexOf(victim);
      const wholeLayer = second.layers[layerIndex]!;
      const layerRequests = proxy.requests.filter((r) => r.path === `/v2/${repository}/blobs/${wholeLayer.digest}`);
      assert.ok(
        layerRequests.length >= 1 && layerRequests.every((r) => !r.corrupted),
        'the whole layer was fetched instead',
      );
      // Progress said delta while patches came, and the total grew by the whole layer once it was known.
      assert.ok(
        seen.some((p) => p.source === 'delta'),
        JSON.stringify(seen.slice(0, 3)),
      );
      assert.ok(
        seen.some((p) => p.bytesTotal >= wholeLayer.size),
        'the whole layer entered the total',
      );
      assert.ok(seen.every((p) => p.percent >= 0 && p.percent <= 100));
    } finally {
      for (const image of images) await engine.removeImage(image.config.digest).catch(() => undefined);
    }
  });
});

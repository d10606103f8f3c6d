// Delta patches end to end on the real registry and the device's real engine: release 1 runs (is loaded) on the
// device, patches to release 2 are generated (by the delta module the job runs: registry-api/delivery/delta/generate.ts),
// and the device rebuilds release 2 from them with the same image ID a full pull gives, for a fraction of the bytes.
// A patch that does not produce its layer, and a source image the registry lacks, both end in whole layers.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../lib/logger.js';
import { DeltaManifestSchema, deltaTagOf, EMPTY_CONFIG, type DeltaManifest } from '../../protocol/delta.js';
import { parse } from '../../protocol/validate.js';
import { DEFAULT_DELTA_SETTINGS, generateImageDeltas } from '../../registry-api/delivery/delta/generate.js';
import { RegistryClient as RegistryIo } from '../../lib/registry/client.js';
import { DeltaRebuilder } from '../../supervisor/images/delta/rebuild.js';
import { BlobStore } from '../../supervisor/images/download/blob-store.js';
import { TokenBucket } from '../../supervisor/images/bandwidth/token-bucket.js';
import { dockerEngine, type Engine } from '../../supervisor/engine/engine.js';
import { ImageFetcher } from '../../supervisor/images/fetcher.js';
import { RegistryClient } from '../../lib/registry/client.js';
import { buildReleasePair, type PushedImage } from '../../bench/support/delta-images.js';
import { loadTestEnv, type TestEnv } from '../../harness/env.js';

const log = createLogger('test-delta-delivery');
log.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
const PACKAGES = ['ajv', 'yaml', 'commander', 'semver'];

function compressedBytes(image: PushedImage, fromLayer = 0): number {
  return image.config.size + image.layers.slice(fromLayer).reduce((s, l) => s + l.size, 0);
}

describe('delta delivery (real registry and engine)', function () {
  this.timeout(300_000);
  let env: TestEnv;
  let engine: Engine;
  let dataDir: string;
  const io = new RegistryIo();

  before(async () => {
    env = loadTestEnv();
    engine = dockerEngine(env.deviceDockerHost, log);
  });

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-delta-'));
  });

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  function fetcher(deltas: boolean): ImageFetcher {
    const registry = new RegistryClient({ log });
    const store = new BlobStore(path.join(dataDir, 'blobs'));
    const bucket = new TokenBucket(null);
    return new ImageFetcher({
      engine,
      registry,
      store,
      bucket,
      log,
      retry: { initialMs: 20, maxMs: 200 },
      deltas: deltas
        ? new DeltaRebuilder({
            engine,
            registry,
            store,
            bucket,
            log,
            workDir: path.join(dataDir, 'delta'),
            retry: { initialMs: 20, maxMs: 200 },
          })
        : undefined,
    });
  }

  async function removeImages(...images: PushedImage[]): Promise<void> {
    for (const image of images) await engine.removeImage(image.config.digest).catch(() => undefined);
  }

  async function pair(repo: string): Promise<{ first: PushedImage; second: PushedImage }> {
    return buildReleasePair(env, {
      base: 'skiff/busybox:base',
      packages: PACKAGES,
      bumped: 'semver',
      repository: `skiff-test/${repo}`,
    });
  }

  it('rebuilds release 2 from patches with the image ID of a full pull, for a fraction of the bytes', async () => {
    const { first, second } = await pair('delta-a');
    try {
      assert.equal((await fetcher(false).fetch(first.ref)).imageId, first.config.digest);
      const [generated] = await generateImageDeltas(io, second.ref, [first.ref], DEFAULT_DELTA_SETTINGS, log);
      assert.equal(generated?.tag, deltaTagOf(second.config.digest));
      // package.json, node_modules and app differ; the base layer is shared and needs no patch.
      assert.equal(generated.patches.length, 3);

      const result = await fetcher(true).fetch(second.ref);
      assert.equal(result.imageId, second.config.digest);
      assert.equal((await engine.inspectImage(result.localRef))?.id, second.config.digest);
      assert.equal(result.layersPatched, 3);
      const changedLayers = compressedBytes(second, 1);
      const patchBytes = generated.patches.reduce((s, p) => s + p.size, 0);
      assert.equal(result.fetchedBytes, second.config.size + patchBytes);
      assert.ok(
        result.fetchedBytes < changedLayers * 0.2,
        `delta moved ${result.fetchedBytes} bytes, changed layers are ${changedLayers}`,
      );
      // The container filesystem is release 2's: the bumped package's edit is there.
      const info = await engine.inspectImage(result.localRef);
      assert.deepEqual(info?.diffIds.length, second.layers.length);
    } finally {
      await removeImages(second, first);
    }
  });

  it('falls back to the whole layer when a patch does not produce its layer', async () => {
    const { first, second } = await pair('delta-b');
    try {
      await fetcher(false).fetch(first.ref);
      const [generated] = await generateImageDeltas(io, second.ref, [first.ref], DEFAULT_DELTA_SETTINGS, log);
      assert.ok(generated?.tag);
      // Replace the node_modules patch by bytes that are a valid blob but no patch of that layer.
      const ref = { registry: env.registry, repository: second.repository };
      const stored = await io.manifest(ref, generated.tag);
      const artifact: DeltaManifest = parse(
        DeltaManifestSchema,
        JSON.parse(stored!.body.toString('utf8')),
        'stored artifact',
      );
      const garbage = randomBytes(4096);
      const digest = `sha256:${createHash('sha256').update(garbage).digest('hex')}`;
      await io.pushBlob(ref, digest, { bytes: garbage });
      const victim = artifact.layers.reduce((a, b) => (a.size >= b.size ? a : b));
      victim.digest = digest;
      victim.size = garbage.length;
      await io.pushBlob(ref, EMPTY_CONFIG.digest, { bytes: Buffer.from(EMPTY_CONFIG.bytes) });
      await io.putManifest(ref, generated.tag, artifact.mediaType, Buffer.from(JSON.stringify(artifact)));

      const result = await fetcher(true).fetch(second.ref);
      assert.equal(result.imageId, second.config.digest);
      assert.equal(result.layersPatched, 2);
      const victimIndex = generated.patches.findIndex(
        (p) => p.toDiffId === victim.annotations['io.skiff.delta.to-diff-id'],
      );
      const wholeLayer = second.layers[second.layers.length - generated.patches.length + victimIndex]!;
      assert.ok(
        result.fetchedBytes >= wholeLayer.size + garbage.length,
        `the whole layer (${wholeLayer.size} bytes) was fetched: ${result.fetchedBytes}`,
      );
    } finally {
      await removeImages(second, first);
    }
  });

  it('a missing source image leaves the release without patches, and the device pulls whole layers', async () => {
    const { first, second } = await pair('delta-c');
    try {
      await fetcher(false).fetch(first.ref);
      const missing = `${env.registry}/skiff-test/delta-c@sha256:${'0'.repeat(64)}`;
      const results = await generateImageDeltas(io, second.ref, [missing], DEFAULT_DELTA_SETTINGS, log);
      assert.equal(results[0]?.tag, null);
      assert.equal(
        await io.manifest({ registry: env.registry, repository: second.repository }, deltaTagOf(second.config.digest)),
        null,
      );
      const result = await fetcher(true).fetch(second.ref);
      assert.equal(result.imageId, second.config.digest);
      assert.equal(result.layersPatched, 0);
      assert.equal(result.fetchedBytes, compressedBytes(second, 1));
    } finally {
      await removeImages(second, first);
    }
  });
});

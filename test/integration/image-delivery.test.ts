// Image delivery through Skiff's own downloader, against the real registry and the device's real engine: the image
// arrives with the right ID under its local tag, layers the engine has are not fetched, and through a proxy that
// cuts and corrupts, the bytes on the link stay near what the image needed; a fetcher process killed mid-download
// resumes where it was.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../lib/logger.js';
import { BlobStore } from '../../supervisor/images/download/blob-store.js';
import { partialBytes } from '../../supervisor/images/download/partial-file.js';
import { TokenBucket } from '../../supervisor/images/bandwidth/token-bucket.js';
import { connectEngine, dockerEngine, type Engine } from '../../supervisor/engine/engine.js';
import { ImageFetcher, type FetchResult } from '../../supervisor/images/fetcher.js';
import { localImageRef } from '../../supervisor/images/local-image.js';
import { RegistryClient } from '../../lib/registry/client.js';
import { distRoot, loadTestEnv, type TestEnv } from '../../harness/env.js';
import { FaultProxy } from '../../harness/fault-proxy.js';
import { buildLayeredImage, type LayeredImage } from '../../harness/layered-image.js';

const KB = 1024;
const log = createLogger('test-image-delivery');
log.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';

function viaProxy(image: LayeredImage, proxy: FaultProxy): string {
  return `${proxy.address()}/${image.repository}@${image.digest}`;
}

function blobBytes(image: LayeredImage, skipped = 0): number {
  return image.config.size + image.layers.slice(skipped).reduce((sum, l) => sum + l.size, 0);
}

describe('image delivery (real registry and engine)', function () {
  this.timeout(240_000);
  let env: TestEnv;
  let engine: Engine;
  let dataDir: string;
  const loaded: string[] = [];

  before(async () => {
    env = loadTestEnv();
    engine = dockerEngine(env.deviceDockerHost, log);
    // Images an interrupted earlier run left behind would make layers count as present.
    for (const image of await engine.listImages()) {
      if (image.repoTags.some((t) => /\/skiff-test\/(layered|window):/.test(t))) await engine.removeImage(image.id);
    }
  });

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-delivery-'));
  });

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  after(async () => {
    for (const ref of loaded) await engine.removeImage(ref).catch(() => undefined);
  });

  function fetcher(cap: number | null = null): ImageFetcher {
    return new ImageFetcher({
      engine,
      registry: new RegistryClient({ log }),
      store: new BlobStore(path.join(dataDir, 'blobs')),
      bucket: new TokenBucket(cap),
      log,
      retry: { initialMs: 20, maxMs: 200 },
    });
  }

  it('loads the image under its local tag with the config digest as ID, and skips layers the engine has', async () => {
    const first = await buildLayeredImage(env, [300 * KB]);
    const result = await fetcher().fetch(first.ref);
    loaded.push(result.localRef);
    assert.equal(result.localRef, localImageRef(first.ref));
    assert.equal(result.imageId, first.config.digest);
    assert.equal((await engine.inspectImage(result.localRef))?.id, first.config.digest);
    // The base layer (skiff/busybox:base) is on the device engine already when an earlier test of this environment
    // ran a busybox image there; the random layer never is.
    assert.ok(result.layersSkipped === 0 || result.layersSkipped === 1, `skipped ${result.layersSkipped} layers`);
    assert.equal(result.neededBytes, blobBytes(first, result.layersSkipped));

    // Same base layer, one new layer: only the new one (and the config) crosses the link.
    const second = await buildLayeredImage(env, [200 * KB]);
    const again = await fetcher().fetch(second.ref);
    loaded.push(again.localRef);
    assert.equal(again.imageId, second.config.digest);
    assert.equal(again.layersSkipped, 1);
    assert.equal(again.neededBytes, blobBytes(second, 1));
    assert.equal(again.fetchedBytes, again.neededBytes);

    // A container is created from the local tag and runs.
    const id = await engine.createContainer(`skiff-delivery-${Date.now()}`, {
      Image: again.localRef,
      Cmd: ['sh', '-c', 'test -f /blob0'],
    });
    try {
      await engine.startContainer(id);
    } finally {
      await engine.removeContainer(id).catch(() => undefined);
    }
    // Present now: a second fetch moves nothing.
    const third = await fetcher().fetch(second.ref);
    assert.equal(third.fetchedBytes, 0);
  });

  it('delivers images that share a layer when asked for at once, fetching the shared layer once', async () => {
    // A fresh random layer under both images: no earlier test can have left it on the device engine.
    const base = await buildLayeredImage(env, [400 * KB], 'shared-base', { keep: true });
    try {
      const [a, b] = await Promise.all([
        buildLayeredImage(env, [100 * KB], 'shared-a', { base: base.tag }),
        buildLayeredImage(env, [120 * KB], 'shared-b', { base: base.tag }),
      ]);
      const shared = fetcher();
      const [ra, rb] = await Promise.all([shared.fetch(a.ref), shared.fetch(b.ref)]);
      loaded.push(ra.localRef, rb.localRef);
      assert.equal(ra.imageId, a.config.digest);
      assert.equal(rb.imageId, b.config.digest);
      const sharedLayer = base.layers[base.layers.length - 1]!;
      // One of the two brought the shared layer; the other found its chain on the engine and skipped it.
      const withShared = [ra, rb].filter((r) => r.neededBytes >= sharedLayer.size);
      assert.equal(
        withShared.length,
        1,
        `needed ${ra.neededBytes} and ${rb.neededBytes} bytes; shared layer ${sharedLayer.size}`,
      );
    } finally {
      await connectEngine(env.devDockerHost)
        .json('DELETE', `/images/${base.tag}`)
        .catch(() => undefined);
    }
  });

  it('through cuts at random offsets and a corrupted blob, arrives with at most 1.1x the needed bytes', async () => {
    const image = await buildLayeredImage(env, [2048 * KB, 1536 * KB, 1024 * KB, 256 * KB]);
    const smallest = image.layers[image.layers.length - 1];
    assert.ok(smallest !== undefined);
    const proxy = new FaultProxy(env.registry, {
      cutProbability: 0.35,
      corruptOnce: new Set([smallest.digest]),
      seed: 7,
    });
    await proxy.start();
    try {
      // A cap keeps requests to 256 KiB chunks, so there are many responses to cut.
      const result = await fetcher(8 * 1024 * KB).fetch(viaProxy(image, proxy));
      loaded.push(result.localRef);
      assert.equal(result.imageId, image.config.digest);
      const blobRequests = proxy.requests.filter((r) => r.path.includes('/blobs/'));
      const cuts = blobRequests.filter((r) => r.cut).length;
      assert.ok(cuts >= 3, `expected several cut responses, got ${cuts}`);
      assert.ok(
        blobRequests.some((r) => r.corrupted),
        'the proxy corrupted a response',
      );
      assert.equal(result.digestMismatches, 1, 'the corrupted blob was detected once and fetched again');
      // The base layer is skipped when an earlier test left an image with it in the engine.
      const needed = blobBytes(image, result.layersSkipped);
      assert.equal(result.neededBytes, needed);
      const onLink = proxy.bodyBytes((r) => r.path.includes('/blobs/'));
      assert.ok(
        onLink <= 1.1 * needed,
        `link carried ${onLink} bytes for ${needed} needed (${(onLink / needed).toFixed(3)}x)`,
      );
      log.warn({ needed, onLink, ratio: onLink / needed, cuts, requests: blobRequests.length }, 'fault run');
    } finally {
      await proxy.stop();
    }
  });

  it('checks a complete layer file again before using it: a corrupt one is deleted and fetched again', async () => {
    const image = await buildLayeredImage(env, [300 * KB]);
    const layer = image.layers[image.layers.length - 1]!;
    const store = new BlobStore(path.join(dataDir, 'blobs'));
    // Complete in name and size, damaged inside: what a bad block or a torn write leaves behind.
    await mkdir(path.dirname(store.pathOf(layer.digest)), { recursive: true });
    await writeFile(store.pathOf(layer.digest), randomBytes(layer.size));
    assert.equal(await store.intact(layer.digest, layer.size), false);
    const result = await fetcher().fetch(image.ref);
    loaded.push(result.localRef);
    assert.equal(result.imageId, image.config.digest, 'the image loads from the layer fetched again');
    assert.ok(result.fetchedBytes >= layer.size, `fetched ${result.fetchedBytes} bytes, the layer has ${layer.size}`);
  });

  it('a fetcher process killed mid-download resumes: bytes before the kill are not fetched again', async () => {
    const image = await buildLayeredImage(env, [3072 * KB, 3072 * KB]);
    const proxy = new FaultProxy(env.registry, { cutProbability: 0, seed: 1 });
    await proxy.start();
    try {
      const job = {
        image: viaProxy(image, proxy),
        dataDir,
        dockerHost: env.deviceDockerHost,
        capBytesPerSecond: 2 * 1024 * KB,
      };
      // Kill threshold only; what the image needed is what the second process reports.
      const estimate = blobBytes(image, 1);
      const blobDir = path.join(dataDir, 'blobs');
      const store = new BlobStore(blobDir);
      const last = image.layers[image.layers.length - 1];
      assert.ok(last !== undefined);
      const first = startFetchProcess(job);
      // Kill once the last layer's partial file holds a third of it: a byte count at the proxy runs ahead of the disk
      // (socket buffers), and half the link's bytes is just where the first layer ends, so a kill there could find
      // every blob either complete or not begun, with nothing to resume.
      while ((await partialBytes(store.partialDir, last.digest)) < last.size / 3) {
        if (first.exited) throw new Error(`fetch process ended before it was killed: ${first.output()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      first.child.kill('SIGKILL');
      await first.done.catch(() => undefined);
      const requestsBefore = proxy.requests.length;
      const held = new Map<string, number>();
      for (const l of image.layers) held.set(l.digest, await store.bytesHeld(l.digest, l.size));
      const onDisk = [...held.values()].reduce((a, b) => a + b, 0);
      assert.ok(onDisk > estimate / 3, `about half the image is on disk at the kill (${onDisk} of ${estimate})`);
      const partialAtKill = await partialBytes(store.partialDir, last.digest);
      assert.ok(
        partialAtKill >= last.size / 3 && partialAtKill < last.size,
        `last layer partly on disk at the kill: ${partialAtKill} of ${last.size}`,
      );
      let partialsAtKill = 0;
      for (const l of image.layers)
        partialsAtKill += (await store.has(l.digest)) ? 0 : await partialBytes(store.partialDir, l.digest);

      const second = startFetchProcess(job);
      const result = JSON.parse(await second.done) as FetchResult;
      loaded.push(result.localRef);
      assert.equal(result.imageId, image.config.digest);
      // The second process resumed from exactly what the partial files held at the kill.
      assert.equal(result.resumedBytes, partialsAtKill);
      const needed = result.neededBytes;
      // Every blob the second process asked for starts where the partial file ended.
      for (const r of proxy.requests.slice(requestsBefore)) {
        const digest = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(r.path)?.[1];
        if (digest === undefined || r.range === null) continue;
        const start = Number(/^bytes=(\d+)-/.exec(r.range)?.[1]);
        assert.ok(
          start >= (held.get(digest) ?? 0),
          `second process asked for ${digest.slice(7, 19)} from ${start}, had ${held.get(digest) ?? 0} on disk`,
        );
      }
      const onLink = proxy.bodyBytes((r) => r.path.includes('/blobs/'));
      assert.ok(onLink <= 1.1 * needed, `link carried ${onLink} bytes for ${needed} needed`);
      log.warn({ needed, onLink, ratio: onLink / needed, onDiskAtKill: onDisk }, 'restart run');
      assert.equal(
        await partialBytes(path.join(blobDir, 'partial'), image.layers[1]?.digest ?? ''),
        0,
        'no partial file is left',
      );
    } finally {
      await proxy.stop();
    }
  });
});

interface FetchProcess {
  child: ReturnType<typeof spawn>;
  done: Promise<string>;
  exited: boolean;
  output(): string;
}

function startFetchProcess(job: object): FetchProcess {
  const script = path.join(distRoot, 'harness', 'image-fetch-process.js');
  const child = spawn(process.execPath, [script, JSON.stringify(job)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SKIFF_LOG_LEVEL: 'warn' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString('utf8');
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
  });
  const proc: FetchProcess = {
    child,
    exited: false,
    output: () => `${stdout}\n${stderr}`.trim(),
    done: new Promise<string>((resolve, reject) => {
      child.on('close', (code, signal) => {
        proc.exited = true;
        if (code === 0) resolve(stdout.trim());
        else reject(new Error(`fetch process ended with ${code ?? signal}: ${stderr.slice(-2000)}`));
      });
    }),
  };
  return proc;
}

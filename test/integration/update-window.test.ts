// The update window gates the real reconciler with a real engine, registry and Skiff's own image delivery; the
// calendar is an injected clock (real seconds pass, the date is chosen) so a window can open seconds into the test.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../lib/logger.js';
import type { UpdateWindow } from '../../protocol/target-state.js';
import { BlobStore } from '../../supervisor/images/download/blob-store.js';
import { TokenBucket } from '../../supervisor/images/bandwidth/token-bucket.js';
import { dockerEngine, type Engine } from '../../supervisor/engine/engine.js';
import { ImageFetcher } from '../../supervisor/images/fetcher.js';
import { resolveLocalImage } from '../../supervisor/images/local-image.js';
import { MANAGED_FILTER } from '../../supervisor/plan/naming.js';
import { Reconciler } from '../../supervisor/reconcile/reconciler.js';
import { RegistryClient } from '../../lib/registry/client.js';
import { loadTestEnv, type TestEnv } from '../../harness/env.js';
import { FaultProxy } from '../../harness/fault-proxy.js';
import { buildLayeredImage } from '../../harness/layered-image.js';
import { serviceSpec, targetState } from '../../harness/supervisor-targets.js';

const log = createLogger('test-update-window');
log.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
/** What "within a poll interval" means here: the target's pollIntervalSeconds. */
const POLL_INTERVAL_S = 5;
const OPENS_AT = Date.parse('2030-01-01T03:00:00Z');
const WINDOW: UpdateWindow = { cron: '0 3 * * *', durationMinutes: 10, timezone: 'UTC' };

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('update window (real reconciler, engine and registry; injected calendar)', function () {
  this.timeout(120_000);
  let env: TestEnv;
  let engine: Engine;
  let dataDir: string;
  let proxy: FaultProxy;
  let reconciler: Reconciler | undefined;

  before(() => {
    env = loadTestEnv();
    engine = dockerEngine(env.deviceDockerHost, log);
  });

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-window-'));
    proxy = new FaultProxy(env.registry, { cutProbability: 0, seed: 1 });
    await proxy.start();
  });

  afterEach(async () => {
    await reconciler?.stop();
    for (const c of await engine.listContainers(MANAGED_FILTER)) {
      await engine.stopContainer(c.id, 1);
      await engine.removeContainer(c.id);
    }
    for (const image of await engine.listImages()) {
      if (image.repoTags.some((t) => t.includes('/skiff-test/window:'))) await engine.removeImage(image.id);
    }
    await proxy.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Starts a reconciler whose calendar reads `msBeforeOpening` before the window opens; returns the real opening time. */
  function startReconciler(image: string, window: UpdateWindow, msBeforeOpening: number): number {
    const realStart = Date.now();
    const clock = (): Date => new Date(OPENS_AT - msBeforeOpening + (Date.now() - realStart));
    const fetcher = new ImageFetcher({
      engine,
      registry: new RegistryClient({ log }),
      store: new BlobStore(path.join(dataDir, 'blobs')),
      bucket: new TokenBucket(null),
      log,
    });
    const target = targetState([serviceSpec('meter', image)], { releaseId: `window-${Date.now()}` });
    target.config = { ...target.config, pollIntervalSeconds: POLL_INTERVAL_S, updateWindow: window };
    reconciler = new Reconciler({
      engine,
      log,
      clock,
      resyncIntervalMs: POLL_INTERVAL_S * 1000,
      dependencyRecheckMs: 500,
      fetchImage: async (ref, signal) => {
        await fetcher.fetch(ref, signal);
      },
    });
    reconciler.setTarget(target);
    reconciler.start();
    return realStart + msBeforeOpening;
  }

  async function runningService(deadlineMs: number): Promise<number> {
    for (;;) {
      const running = (await engine.listContainers(MANAGED_FILTER)).filter((c) => c.state === 'running');
      if (running.length > 0) return Date.now();
      if (Date.now() > deadlineMs)
        throw new Error(`no service running; reconciler status ${JSON.stringify(reconciler?.currentStatus())}`);
      await sleep(100);
    }
  }

  it('fetches nothing before the window opens, and starts fetching within a poll interval after it opens', async () => {
    const built = await buildLayeredImage(env, [256 * 1024], 'window');
    const image = `${proxy.address()}/${built.repository}@${built.digest}`;
    const opensReal = startReconciler(image, WINDOW, 3000);
    await sleep(2500);
    assert.equal(proxy.requests.length, 0, 'nothing was asked of the registry while the window was closed');
    assert.deepEqual(reconciler?.currentStatus().heldByWindow, { nextOpening: new Date(OPENS_AT).toISOString() });
    assert.equal(await resolveLocalImage(engine, image), undefined);
    await runningService(Date.now() + 60_000);
    const firstBlob = proxy.requests.find((r) => r.path.includes('/blobs/'));
    assert.ok(firstBlob !== undefined);
    const late = firstBlob.at - opensReal;
    assert.ok(late >= 0, `fetching began ${-late} ms before the window opened`);
    assert.ok(late < POLL_INTERVAL_S * 1000, `fetching began ${late} ms after the window opened`);
    log.warn({ msAfterOpening: late }, 'window opened');
  });

  it('with downloadOutsideWindow, downloads at once but replaces nothing until the window opens', async () => {
    const built = await buildLayeredImage(env, [256 * 1024], 'window');
    const image = `${proxy.address()}/${built.repository}@${built.digest}`;
    const opensReal = startReconciler(image, { ...WINDOW, downloadOutsideWindow: true }, 4000);
    for (;;) {
      if ((await resolveLocalImage(engine, image)) !== undefined) break;
      assert.ok(Date.now() < opensReal, 'the image arrived before the window opened');
      await sleep(100);
    }
    assert.equal((await engine.listContainers(MANAGED_FILTER)).length, 0, 'no container is created outside the window');
    const started = await runningService(Date.now() + 60_000);
    assert.ok(started >= opensReal, 'the service started only once the window opened');
  });
});

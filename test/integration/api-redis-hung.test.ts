// Two registry-api instances over one database and the env's real Redis, with that Redis hung (SIGSTOP: its sockets
// stay open and nothing is answered, unlike a Redis that is down): a revoke through one instance is still answered
// within 2 s, and the revoked device is refused by both at once, though the other instance cannot hear of it. When
// Redis answers again, sessions are kept again.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApiClient } from '../../cli/api-client.js';
import { createLogger } from '../../lib/logger.js';
import { eventPaths, paths } from '../../protocol/http/paths.js';
import { createApp } from '../../registry-api/http/app.js';
import { redisInvalidation } from '../../registry-api/fleet/invalidation.js';
import { startInProcessQueue } from '../../registry-api/jobs/start.js';
import { signingKeyOf } from '../../registry-api/keys/signing-key.js';
import type { Store } from '../../registry-api/store/index.js';
import { openStore } from '../../registry-api/store/open.js';
import { loadTestEnv } from '../../harness/env.js';
import { testStoreLocation, type TestStoreLocation } from '../../harness/test-store.js';
import { TestDevice } from '../../harness/test-device.js';

const ADMIN_TOKEN = 'hung-redis-admin-token-0123456789abcdef';

interface Instance {
  url: string;
  admin: ApiClient;
  store: Store;
  close(): Promise<void>;
}

async function pollStatus(instance: Instance, uuid: string, token: string, etag?: string | null): Promise<number> {
  const response = await fetch(`${instance.url}${paths.target(uuid)}`, {
    headers: { authorization: `Bearer ${token}`, ...(etag ? { 'if-none-match': etag } : {}) },
    signal: AbortSignal.timeout(10_000),
  });
  await response.arrayBuffer();
  return response.status;
}

/** The env's redis-server, paused until the returned function resumes it. */
async function pauseRedis(): Promise<() => void> {
  const pid = Number((await readFile(path.join(loadTestEnv().root, 'redis', 'redis.pid'), 'utf8')).trim());
  assert.ok(Number.isInteger(pid) && pid > 1, `the env's redis.pid holds no pid: ${pid}`);
  process.kill(pid, 'SIGSTOP');
  let resumed = false;
  return () => {
    if (resumed) return;
    resumed = true;
    process.kill(pid, 'SIGCONT');
  };
}

describe('registry-api: a hung Redis neither freezes a revoke nor keeps the revoked device served', function () {
  this.timeout(60_000);
  let dataDir: string;
  let database: TestStoreLocation;
  let a: Instance;
  let b: Instance;
  let resume: (() => void) | undefined;

  async function start(): Promise<Instance> {
    const store = await openStore(database.location);
    const logger = createLogger('registry-api', { test: true });
    logger.level = process.env.SKIFF_LOG_LEVEL ?? 'fatal';
    const jobs = startInProcessQueue({ store, logger, now: () => new Date(), registryToken: null });
    const invalidation = await redisInvalidation({
      changes: store.changes,
      redisUrl: loadTestEnv().redisUrl,
      channel: `skiff-test-${path.basename(dataDir)}:invalidation`,
      logger,
    });
    const app = createApp({
      store,
      adminToken: ADMIN_TOKEN,
      registry: null,
      version: '0.0.0',
      signingKey: signingKeyOf(dataDir, null),
      logger,
      jobs,
      invalidation,
    });
    const server: Server = createServer(app.callback());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      url,
      store,
      admin: new ApiClient({ baseUrl: url, token: ADMIN_TOKEN }),
      async close() {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await jobs.close();
        await invalidation.close();
        await store.close();
      },
    };
  }

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-hung-redis-'));
    database = await testStoreLocation(dataDir);
    a = await start();
    b = await start();
  });

  afterEach(() => resume?.());

  after(async () => {
    resume?.();
    await a?.close();
    await b?.close();
    await database?.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers a revoke within 2 s and both instances refuse the device while Redis is paused', async () => {
    const fleet = await a.admin.createFleet({ name: 'meters', deviceType: 'raspberrypi4-64' });
    const device = TestDevice.create('2a0a1600-0000-4000-8000-000000000001');
    const bystander = TestDevice.create('2a0a1600-0000-4000-8000-000000000002');
    const token = (await device.token(a.url, { fleet: 'meters', provisioningKey: fleet.provisioningKey })).token;
    const otherToken = (await bystander.token(a.url, { fleet: 'meters', provisioningKey: fleet.provisioningKey }))
      .token;
    // Both instances keep the device's session: a plain 304 poll is answered from memory.
    const first = await fetch(`${b.url}${paths.target(device.uuid)}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    await first.arrayBuffer();
    const etag = first.headers.get('etag');
    assert.equal(first.status, 200);
    assert.equal(await pollStatus(b, device.uuid, token, etag), 304);
    assert.equal(await pollStatus(a, device.uuid, token, etag), 304);

    // And B holds the device's push channel.
    const channel = await fetch(`${b.url}${eventPaths.events(device.uuid)}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(channel.status, 200);
    const reader = channel.body?.getReader();
    assert.ok(reader !== undefined);
    const channelEnded = (async (): Promise<'ended'> => {
      try {
        while (!(await reader.read()).done);
      } catch {
        // A reset connection ends it too.
      }
      return 'ended';
    })();

    resume = await pauseRedis();
    const started = performance.now();
    const revoked = await Promise.race([
      a.admin.revokeDevice(device.uuid).then(() => 'answered' as const),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000)),
    ]);
    const tookMs = performance.now() - started;
    assert.equal(revoked, 'answered', 'the revoke was not answered within 5 s with Redis paused');
    assert.ok(tookMs < 2_000, `the revoke took ${Math.round(tookMs)} ms with Redis paused (at most 2 s)`);
    assert.equal(await pollStatus(b, device.uuid, token, etag), 401, 'the other instance refuses it too');
    assert.equal(await pollStatus(a, device.uuid, token, etag), 401);
    assert.equal(
      await pollStatus(b, bystander.uuid, otherToken),
      200,
      'other devices are still served (from the store)',
    );
    const ended = await Promise.race([
      channelEnded,
      new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), 5_000)),
    ]);
    assert.equal(ended, 'ended', "B ends the revoked device's push channel");

    resume();
    // Once Redis answers again, sessions are kept again: the revoked device stays refused, the other is served.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(await pollStatus(b, device.uuid, token, etag), 401);
    assert.equal(await pollStatus(b, bystander.uuid, otherToken), 200);
  });
});

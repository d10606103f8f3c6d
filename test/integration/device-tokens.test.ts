// Device tokens on two registry-api instances over one database and the env's Redis: a device holds at most
// MAX_LIVE_TOKENS_PER_DEVICE live tokens (each re-auth retires the older ones), and a push channel ends as soon as
// the token it was opened with is retired, by a key rotation or a re-auth, whichever instance made it.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
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
import { openStore } from '../../registry-api/store/open.js';
import { loadTestEnv } from '../../harness/env.js';
import { testStoreLocation, type TestStoreLocation } from '../../harness/test-store.js';
import { TestDevice } from '../../harness/test-device.js';

const ADMIN_TOKEN = 'device-tokens-admin-token-0123456789abcdef';

interface Instance {
  url: string;
  admin: ApiClient;
  close(): Promise<void>;
}

async function pollStatus(instance: Instance, uuid: string, token: string): Promise<number> {
  const response = await fetch(`${instance.url}${paths.target(uuid)}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  });
  await response.arrayBuffer();
  return response.status;
}

/** Opens the device's push channel; `ended` resolves 'ended' when the API ends it, 'open' after `waitMs`. */
async function openChannel(
  instance: Instance,
  uuid: string,
  token: string,
): Promise<{ ended: (waitMs: number) => Promise<'ended' | 'open'>; abort(): void }> {
  const controller = new AbortController();
  const response = await fetch(`${instance.url}${eventPaths.events(uuid)}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: controller.signal,
  });
  assert.equal(response.status, 200, 'the push channel opens');
  const body = response.body;
  assert.ok(body !== null);
  const reader = body.getReader();
  const finished = (async (): Promise<'ended'> => {
    try {
      for (;;) if ((await reader.read()).done) return 'ended';
    } catch {
      return 'ended';
    }
  })();
  return {
    ended: (waitMs) =>
      Promise.race([finished, new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), waitMs))]),
    abort: () => controller.abort(),
  };
}

describe('registry-api: device tokens are retired, and push channels with them', function () {
  this.timeout(60_000);
  let dataDir: string;
  let database: TestStoreLocation;
  let a: Instance;
  let b: Instance;
  let provisioningKey: string;
  const aborts: (() => void)[] = [];

  async function start(): Promise<Instance> {
    const store = await openStore(database.location);
    const logger = createLogger('registry-api', { test: true });
    logger.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
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
    dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-device-tokens-'));
    database = await testStoreLocation(dataDir);
    a = await start();
    b = await start();
    provisioningKey = (await a.admin.createFleet({ name: 'meters', deviceType: 'raspberrypi4-64' })).provisioningKey;
  });

  afterEach(() => {
    for (const abort of aborts.splice(0)) abort();
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await database?.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps only the two newest tokens of a device that authenticates again and again', async () => {
    const device = TestDevice.create('2a0a1700-0000-4000-8000-000000000001');
    const tokens: string[] = [];
    for (let i = 0; i < 5; i += 1) tokens.push((await device.token(a.url, { fleet: 'meters', provisioningKey })).token);
    const statuses = [];
    for (const token of tokens) statuses.push(await pollStatus(b, device.uuid, token));
    assert.deepEqual(statuses, [401, 401, 401, 200, 200], 'the older three are retired, the newest two live');
  });

  it('ends a push channel on another instance when the device rotates its key', async () => {
    const device = TestDevice.create('2a0a1700-0000-4000-8000-000000000002');
    const token = (await device.token(a.url, { fleet: 'meters', provisioningKey })).token;
    const channel = await openChannel(b, device.uuid, token);
    aborts.push(channel.abort);
    assert.equal(await channel.ended(300), 'open');
    const rotated = await device.rotate(a.url);
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal(await channel.ended(3_000), 'ended', 'the channel of the old token is closed at once');
    assert.equal(await pollStatus(b, device.uuid, token), 401);
  });

  it('ends a push channel whose token a re-auth retired, and keeps the one of a live token', async () => {
    const device = TestDevice.create('2a0a1700-0000-4000-8000-000000000003');
    const first = (await device.token(a.url, { fleet: 'meters', provisioningKey })).token;
    const oldChannel = await openChannel(b, device.uuid, first);
    aborts.push(oldChannel.abort);
    const second = (await device.token(a.url, { fleet: 'meters', provisioningKey })).token;
    const liveChannel = await openChannel(b, device.uuid, second);
    aborts.push(liveChannel.abort);
    assert.equal(await oldChannel.ended(300), 'open', 'the previous token is still live');
    await device.token(a.url, { fleet: 'meters', provisioningKey });
    assert.equal(await oldChannel.ended(3_000), 'ended', 'the first token is retired: its channel ends');
    assert.equal(await liveChannel.ended(500), 'open', 'the second token is still live: its channel stays');
  });
});

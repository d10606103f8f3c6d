// Fleet logs across two registry-api instances over one database, both on the environment's Redis (a channel of
// this run's own), as behind a load balancer: the device's push channel on A, its POSTs on B, the person on B (or
// A). The request must reach the device through A, the snapshot and the followed lines the person through B.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApiClient } from '../../cli/api-client.js';
import { DeviceLogsClient, type FollowEvent } from '../../cli/device-logs-client.js';
import { createLogger } from '../../lib/logger.js';
import type { DeviceLogLine } from '../../protocol/device-logs.js';
import { createApp } from '../../registry-api/http/app.js';
import { redisLogRelay, type LogRelay } from '../../registry-api/logs/relay.js';
import { redisInvalidation, type InvalidationBus } from '../../registry-api/fleet/invalidation.js';
import { startInProcessQueue } from '../../registry-api/jobs/start.js';
import { signingKeyOf } from '../../registry-api/keys/signing-key.js';
import type { Store } from '../../registry-api/store/index.js';
import { openStore } from '../../registry-api/store/open.js';
import { loadTestEnv } from '../../harness/env.js';
import { LogResponder } from '../../harness/log-responder.js';
import { testStoreLocation, type TestStoreLocation } from '../../harness/test-store.js';
import { TestDevice } from '../../harness/test-device.js';

const ADMIN_TOKEN = 'relay-logs-admin-token-0123456789abcdef';
const line = (text: string, second: number): DeviceLogLine => ({
  service: 'reader',
  containerId: 'b'.repeat(64),
  timestamp: `2026-01-01T00:00:0${second}.5Z`,
  stream: 'stdout',
  text,
});

interface Instance {
  url: string;
  store: Store;
  server: Server;
  close(): Promise<void>;
}

describe('fleet logs across two API instances (Redis relay)', function () {
  this.timeout(60_000);
  let dataDir: string;
  let database: TestStoreLocation;
  let a: Instance;
  let b: Instance;
  let token = '';
  const device = TestDevice.create('0e1a1000-0000-4000-8000-000000000001');
  let responder: LogResponder | undefined;

  async function start(): Promise<Instance> {
    const store = await openStore(database.location);
    const logger = createLogger('registry-api', { test: true });
    logger.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
    const jobs = startInProcessQueue({ store, logger, now: () => new Date(), registryToken: null });
    const prefix = `skiff-test-${path.basename(dataDir)}`;
    const { redisUrl } = loadTestEnv();
    const invalidation: InvalidationBus = await redisInvalidation({
      changes: store.changes,
      redisUrl,
      channel: `${prefix}:invalidation`,
      logger,
    });
    const relay: LogRelay = await redisLogRelay({
      redisUrl,
      channel: `${prefix}:device-logs`,
      logger,
      deliveryTimeoutMs: 1_000,
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
      deviceLogs: { relay, followMs: 5_000, renewMs: 500 },
    });
    const server = createServer(app.callback());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      store,
      server,
      async close() {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await jobs.close();
        await relay.close();
        await invalidation.close();
        await store.close();
      },
    };
  }

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-relay-logs-'));
    database = await testStoreLocation(dataDir);
    a = await start();
    b = await start();
    const fleet = await new ApiClient({ baseUrl: a.url, token: ADMIN_TOKEN }).createFleet({
      name: 'meters',
      deviceType: 'generic-amd64',
    });
    token = (await device.token(a.url, { fleet: 'meters', provisioningKey: fleet.provisioningKey })).token;
  });

  afterEach(async () => {
    await responder?.close();
    responder = undefined;
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await database?.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers a person on B with the snapshot of a device whose channel is on A and whose POSTs go to B', async () => {
    responder = await LogResponder.open(a.url, device.uuid, token, {
      lines: [line('second', 2), line('first', 1)],
      services: ['reader', 'sender'],
      postTo: b.url,
    });
    const logs = await new DeviceLogsClient(b.url, ADMIN_TOKEN).snapshot(device.uuid, {
      services: ['reader'],
      tail: '2',
    });
    assert.deepEqual(
      logs.lines.map((l) => l.text),
      ['first', 'second'],
    );
    assert.deepEqual(logs.services, ['reader']);
    assert.deepEqual(
      responder.heard.map((e) => [e.services, e.tail, e.followMs]),
      [[['reader'], 2, 0]],
      'heard once, through A',
    );
  });

  it('streams lines the device posts to A to a follower on B, and renews the want through A', async () => {
    responder = await LogResponder.open(a.url, device.uuid, token, {
      lines: [line('snapshot', 1)],
      services: ['reader'],
      postTo: b.url,
    });
    const stop = new AbortController();
    const events: FollowEvent[] = [];
    const following = (async () => {
      for await (const event of new DeviceLogsClient(b.url, ADMIN_TOKEN).follow(device.uuid, {}, stop.signal))
        events.push(event);
    })();
    const texts = (): string[] => events.flatMap((e) => (e.kind === 'lines' ? e.event.lines.map((l) => l.text) : []));
    try {
      await until('the snapshot', () => texts().includes('snapshot'));
      // Posted to A, the instance without the follower.
      await responder.post({ lines: [line('followed through A', 3)] }, a.url);
      await until('the followed line on B', () => texts().includes('followed through A'));
      await until('a renewal', () => responder!.heard.some((e) => e.tail === null && e.followMs === 5_000));
      assert.deepEqual(texts(), ['snapshot', 'followed through A']);
    } finally {
      stop.abort();
      await following;
    }
  });

  it("answers 409 when no instance holds the device's channel", async () => {
    const started = Date.now();
    await assert.rejects(new DeviceLogsClient(a.url, ADMIN_TOKEN).snapshot(device.uuid, {}), /no push channel open/);
    assert.ok(Date.now() - started < 5_000, "decided by the relay's delivery timeout, not the snapshot wait");
  });
});

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

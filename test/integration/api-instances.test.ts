// Two registry-api instances over ONE database (SQLite file, or PostgreSQL with SKIFF_TEST_STORE=postgres), each
// with its own device sessions and target cache in memory (device-sessions.ts, target-cache.ts) and both on the
// env's Redis for the invalidation bus (a channel of this run's own): what one instance changes, the other must
// serve on the very next poll, and a device revoked or rotated through one is refused by the other at once.
// Also: a single instance with no Redis drops its sessions on its own changes; polls' contact is written behind
// (registry-api/store/last-seen.ts).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { ApiClient } from '../../cli/api-client.js';
import { createLogger } from '../../lib/logger.js';
import { TargetStateSchema, type TargetState } from '../../protocol/target-state.js';
import { parse } from '../../protocol/validate.js';
import { DeviceAuthResponseSchema } from '../../protocol/device-auth.js';
import { paths } from '../../protocol/http/paths.js';
import { createApp } from '../../registry-api/http/app.js';
import { redisInvalidation, type InvalidationBus } from '../../registry-api/fleet/invalidation.js';
import { startInProcessQueue } from '../../registry-api/jobs/start.js';
import { signingKeyOf } from '../../registry-api/keys/signing-key.js';
import type { ReleaseRecord, Store } from '../../registry-api/store/index.js';
import { openStore } from '../../registry-api/store/open.js';
import { loadTestEnv } from '../../harness/env.js';
import { testStoreLocation, type TestStoreLocation } from '../../harness/test-store.js';
import { TestDevice } from '../../harness/test-device.js';

const ADMIN_TOKEN = 'two-instances-admin-token-0123456789abcdef';

interface Instance {
  url: string;
  admin: ApiClient;
  store: Store;
  server: Server;
  close(): Promise<void>;
}

interface Poll {
  status: number;
  etag: string | null;
  target: TargetState | null;
}

async function poll(instance: Instance, uuid: string, token: string, etag?: string | null): Promise<Poll> {
  const response = await fetch(`${instance.url}${paths.target(uuid)}`, {
    headers: { authorization: `Bearer ${token}`, ...(etag ? { 'if-none-match': etag } : {}) },
  });
  const text = await response.text();
  return {
    status: response.status,
    etag: response.headers.get('etag'),
    target: response.status === 200 ? parse(TargetStateSchema, JSON.parse(text), 'the target') : null,
  };
}

describe('registry-api: two instances over one database', function () {
  this.timeout(60_000);
  let dataDir: string;
  let database: TestStoreLocation;
  let a: Instance;
  let b: Instance;
  let clock = new Date();
  let release1: ReleaseRecord;
  let release2: ReleaseRecord;
  const device = TestDevice.create('2a0a1500-0000-4000-8000-000000000001');
  let token: string;
  let provisioningKey: string;

  /** `shared`: on the env's Redis, as every instance of a multi-instance deployment must be; else alone. */
  async function start(shared = true): Promise<Instance> {
    const store = await openStore(database.location);
    const logger = createLogger('registry-api', { test: true });
    logger.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
    const now = (): Date => clock;
    const jobs = startInProcessQueue({ store, logger, now, registryToken: null });
    const invalidation: InvalidationBus | undefined = shared
      ? await redisInvalidation({
          changes: store.changes,
          redisUrl: loadTestEnv().redisUrl,
          channel: `skiff-test-${path.basename(dataDir)}:invalidation`,
          logger,
        })
      : undefined;
    // The same data dir: one signing key, as instances behind one load balancer have.
    const app = createApp({
      store,
      adminToken: ADMIN_TOKEN,
      registry: null,
      version: '0.0.0',
      signingKey: signingKeyOf(dataDir, null),
      logger,
      now,
      jobs,
      invalidation,
    });
    const server = createServer(app.callback());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      url,
      store,
      server,
      admin: new ApiClient({ baseUrl: url, token: ADMIN_TOKEN }),
      async close() {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await jobs.close();
        await invalidation?.close();
        await store.close();
      },
    };
  }

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-two-instances-'));
    database = await testStoreLocation(dataDir);
    a = await start();
    b = await start();
    const fleet = await a.admin.createFleet({ name: 'meters', deviceType: 'generic-amd64' });
    // Ready releases straight through the store: their images are not what this test is about.
    const stamp = { actor: 'admin', at: clock.toISOString() };
    const release = (version: string) =>
      a.store.releases.create(
        {
          fleet: 'meters',
          version,
          status: 'ready',
          compose: 'services: {}\n',
          services: [],
          volumes: [],
          networks: [],
          images: {},
          notes: null,
          createdAt: clock.toISOString(),
        },
        stamp,
      );
    release1 = await release('1');
    release2 = await release('2');
    provisioningKey = fleet.provisioningKey;
    token = (await device.token(a.url, { fleet: 'meters', provisioningKey })).token;
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await database?.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serves a pin made through one instance on the very next poll through the other', async () => {
    // Both instances have computed (and keep) the target of the latest release.
    const first = await poll(b, device.uuid, token);
    assert.equal(first.status, 200);
    assert.deepEqual(first.target?.release, { id: release2.id, version: '2' });
    assert.equal((await poll(a, device.uuid, token, first.etag)).status, 304);
    assert.equal((await poll(b, device.uuid, token, first.etag)).status, 304);

    await a.admin.pin('meters', '1');
    const pinned = await poll(b, device.uuid, token, first.etag);
    assert.equal(pinned.status, 200, 'the fleet pin through A changes what B serves at once');
    assert.deepEqual(pinned.target?.release, { id: release1.id, version: '1' });
    assert.notEqual(pinned.etag, first.etag);

    // A device pin through B, a config var through A, back and forth.
    await b.admin.pinDevice(device.uuid, '2');
    const devicePinned = await poll(a, device.uuid, token, pinned.etag);
    assert.equal(devicePinned.status, 200);
    assert.deepEqual(devicePinned.target?.release, { id: release2.id, version: '2' });
    await a.admin.setFleetVar('meters', 'METER_PORT', '/dev/ttyUSB1');
    const configured = await poll(b, device.uuid, token, devicePinned.etag);
    assert.equal(configured.status, 200);
    assert.equal(configured.target?.config.env.METER_PORT, '/dev/ttyUSB1');
    assert.equal((await poll(a, device.uuid, token, configured.etag)).status, 304, 'both instances agree on the ETag');
  });

  it('issues one version per content, whichever instance computes it first; versions only go up', async () => {
    const other = TestDevice.create('2a0a1500-0000-4000-8000-0000000000a1');
    const otherToken = (await other.token(b.url, { fleet: 'meters', provisioningKey })).token;
    // Both instances compute this device's first target at the same moment: one issue, one version, one ETag.
    const [fromA, fromB] = await Promise.all([poll(a, other.uuid, otherToken), poll(b, other.uuid, otherToken)]);
    assert.equal(fromA.status, 200);
    assert.equal(fromB.status, 200);
    assert.deepEqual(fromA.target?.issued, fromB.target?.issued);
    assert.equal(fromA.etag, fromB.etag);
    const first = fromA.target?.issued?.version ?? 0;
    assert.ok(first >= 1);

    // Whatever the fleet runs now (earlier tests pin it), the device is pinned to the other release and back.
    const running = fromA.target?.release?.version;
    const [away, home] = running === '1' ? ['2', '1'] : ['1', '2'];
    await b.admin.pinDevice(other.uuid, away);
    const pinned = await poll(a, other.uuid, otherToken, fromA.etag);
    assert.equal(pinned.status, 200);
    assert.equal(pinned.target?.issued?.version, first + 1);
    assert.equal((await poll(b, other.uuid, otherToken, pinned.etag)).status, 304, 'B serves the same issue');
    await a.admin.pinDevice(other.uuid, home);
    const back = await poll(b, other.uuid, otherToken, pinned.etag);
    assert.equal(back.target?.issued?.version, first + 2, 'back to earlier content is a new, higher version');
  });

  it('serves a release that turned ready through the other instance on the next poll', async () => {
    await a.admin.trackLatest('meters');
    await a.admin.trackFleet(device.uuid);
    const before = await poll(b, device.uuid, token);
    assert.deepEqual(before.target?.release, { id: release2.id, version: '2' });
    const stamp = { actor: 'system', at: clock.toISOString() };
    const pending = await a.store.releases.create(
      {
        fleet: 'meters',
        version: '3',
        status: 'pending',
        compose: 'services: {}\n',
        services: [],
        volumes: [],
        networks: [],
        images: {},
        notes: null,
        createdAt: clock.toISOString(),
      },
      stamp,
    );
    assert.equal((await poll(b, device.uuid, token, before.etag)).status, 304, 'a pending release is no target');
    await a.store.releases.settle(pending.id, { checkedAt: clock.toISOString(), failure: null }, stamp);
    const ready = await poll(b, device.uuid, token, before.etag);
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.target?.release, { id: pending.id, version: '3' });
  });

  it("writes a poll's contact behind: the answering instance shows it at once, and it never moves back", async () => {
    const seenThrough = async (instance: Instance): Promise<string | null> =>
      (await instance.admin.getDevice(device.uuid)).lastSeen;
    clock = new Date(clock.getTime() + 60_000);
    assert.equal((await poll(b, device.uuid, token)).status, 200);
    const first = clock.toISOString();
    assert.equal(await seenThrough(b), first, 'a read through the instance that answered includes its noted polls');
    clock = new Date(clock.getTime() + 60_000);
    assert.equal((await poll(a, device.uuid, token)).status, 200);
    const second = clock.toISOString();
    assert.equal(await seenThrough(a), second);
    assert.equal(await seenThrough(b), second, 'written to the database, so the other instance reads it too');
    // A poll noted with an older time (a slow instance's clock, a late flush) never moves the stored time back.
    clock = new Date(clock.getTime() - 30_000);
    await poll(b, device.uuid, token);
    assert.equal(await seenThrough(b), second);
    clock = new Date(clock.getTime() + 30_000);
    assert.equal((await a.admin.getDevice(device.uuid)).online, true);
  });

  it('refuses the old token of a device that rotated its key through one instance at once through the other', async () => {
    const current = await poll(b, device.uuid, token);
    assert.equal(current.status, 200);
    assert.equal((await poll(b, device.uuid, token, current.etag)).status, 304, 'B keeps the session of the old token');
    const rotated = await device.rotate(a.url);
    assert.equal(rotated.status, 200, rotated.text);
    const fresh = parse(DeviceAuthResponseSchema, rotated.json, 'the rotation answer').token;
    assert.equal((await poll(b, device.uuid, token, current.etag)).status, 401, 'the old token is dead on B at once');
    assert.equal((await poll(a, device.uuid, token, current.etag)).status, 401);
    assert.equal((await poll(b, device.uuid, fresh, current.etag)).status, 304, 'the new token works on B');
    token = fresh;
  });

  it('refuses a device revoked through one instance at once through the other', async () => {
    const current = await poll(a, device.uuid, token);
    assert.equal((await poll(b, device.uuid, token, current.etag)).status, 304);
    await a.admin.revokeDevice(device.uuid);
    assert.equal((await poll(b, device.uuid, token, current.etag)).status, 401);
    assert.equal((await poll(a, device.uuid, token, current.etag)).status, 401);
  });

  it('drops every kept session when its subscriber reconnects to Redis, since messages may have been missed', async () => {
    const other = TestDevice.create('2a0a1500-0000-4000-8000-000000000003');
    const otherToken = (await other.token(a.url, { fleet: 'meters', provisioningKey })).token;
    const first = await poll(b, other.uuid, otherToken);
    assert.equal(first.status, 200);
    // A revoke no instance hears of: through a store of its own, as if its message had been lost.
    const unheard = await openStore(database.location);
    try {
      await unheard.devices.revoke(other.uuid, { actor: 'admin', at: clock.toISOString() });
    } finally {
      await unheard.close();
    }
    assert.equal(
      (await poll(b, other.uuid, otherToken, first.etag)).status,
      304,
      'B still trusts its session (the clock stands still: no TTL)',
    );
    const redis = new Redis(loadTestEnv().redisUrl);
    try {
      await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    } finally {
      redis.disconnect();
    }
    let status = 0;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline && status !== 401; ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = (await poll(b, other.uuid, otherToken, first.etag)).status;
    }
    assert.equal(status, 401, 'after resubscribing, B reads the session again');
  });

  it('a single instance without Redis refuses a device it revoked at once', async () => {
    const alone = await start(false);
    try {
      const other = TestDevice.create('2a0a1500-0000-4000-8000-000000000002');
      const otherToken = (await other.token(alone.url, { fleet: 'meters', provisioningKey })).token;
      const first = await poll(alone, other.uuid, otherToken);
      assert.equal(first.status, 200);
      assert.equal((await poll(alone, other.uuid, otherToken, first.etag)).status, 304, 'the session is kept');
      await alone.admin.revokeDevice(other.uuid);
      assert.equal((await poll(alone, other.uuid, otherToken, first.etag)).status, 401);
    } finally {
      await alone.close();
    }
  });
});

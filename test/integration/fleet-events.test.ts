// A fleet you can read, on real components: two registry-api instances over ONE database (SQLite file, or
// PostgreSQL with SKIFF_TEST_STORE=postgres) on the env's Redis (invalidation bus and fleet event relay), devices
// speaking the real device API, a real local HTTP receiver for webhooks, and the API's clock moved by the test.
// - the events stream: every instance's readers hear every instance's events, once; Last-Event-ID resumes from the
//   ring, or says `reset`; a reader sees only fleets it may read;
// - events where things happen: registration, update started/done/failed, the device's own rollback, presence from
//   last-seen sweeps (announced once however many instances sweep);
// - fleet status counts, and a device waiting for its update window says so;
// - metrics history: raw samples for the last hour (one per 10 s slot), 15-minute buckets with avg/min/max after,
//   compaction by age;
// - webhooks: signed deliveries, retried across a receiver outage and an API restart, admins only.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApiClient, ApiProblemError } from '../../cli/api-client.js';
import { createLogger } from '../../lib/logger.js';
import { SseParser } from '../../lib/sse.js';
import { FleetEventSchema, type FleetEvent } from '../../protocol/fleet-events.js';
import { FLEET_EVENT, RESET_EVENT } from '../../protocol/http/events.js';
import { paths } from '../../protocol/http/paths.js';
import type { DeviceMetrics, ServiceReport, StateReport } from '../../protocol/state-report.js';
import { parse } from '../../protocol/validate.js';
import { WEBHOOK_DELIVERY_HEADER, WEBHOOK_EVENT_HEADER, WEBHOOK_SIGNATURE_HEADER } from '../../protocol/webhooks.js';
import { startFleetActivity, type FleetActivity } from '../../registry-api/events/activity.js';
import { FleetEventBus } from '../../registry-api/events/bus.js';
import { redisEventRelay, type EventRelay } from '../../registry-api/events/relay.js';
import { verifyWebhookSignature } from '../../registry-api/events/webhook-signature.js';
import { redisInvalidation, type InvalidationBus } from '../../registry-api/fleet/invalidation.js';
import { createApp } from '../../registry-api/http/app.js';
import { startInProcessQueue } from '../../registry-api/jobs/start.js';
import { signingKeyOf } from '../../registry-api/keys/signing-key.js';
import type { ReleaseRecord, Store } from '../../registry-api/store/index.js';
import { openStore } from '../../registry-api/store/open.js';
import { loadTestEnv } from '../../harness/env.js';
import { testStoreLocation, type TestStoreLocation } from '../../harness/test-store.js';
import { TestDevice } from '../../harness/test-device.js';

const ADMIN_TOKEN = 'fleet-events-admin-token-0123456789abcdef';
const DEADLINE_MS = 30_000;

interface Instance {
  url: string;
  admin: ApiClient;
  store: Store;
  activity: FleetActivity;
  /** Replaces the background activity, as a restart of the API does. */
  restartActivity(): Promise<void>;
  close(): Promise<void>;
}

/** Polls `check` until it holds, or fails with `what` after a generous deadline (a loaded 2-core machine). */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A reader of the fleet events stream, collecting what it hears. */
class Reader {
  readonly events: FleetEvent[] = [];
  resets = 0;
  status = 0;
  private readonly abort = new AbortController();

  private constructor() {}

  static async open(
    url: string,
    token: string,
    options: { fleet?: string; lastEventId?: string } = {},
  ): Promise<Reader> {
    const reader = new Reader();
    const query = options.fleet === undefined ? '' : `?fleet=${encodeURIComponent(options.fleet)}`;
    const response = await fetch(`${url}/v1/events${query}`, {
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'text/event-stream',
        ...(options.lastEventId === undefined ? {} : { 'last-event-id': options.lastEventId }),
      },
      signal: reader.abort.signal,
    });
    reader.status = response.status;
    if (!response.ok || response.body === null) {
      await response.text().catch(() => '');
      return reader;
    }
    const body = response.body;
    const parser = new SseParser();
    const decoder = new TextDecoder();
    void (async () => {
      try {
        for await (const chunk of body) {
          for (const event of parser.push(decoder.decode(chunk, { stream: true }))) {
            if (event.event === RESET_EVENT) reader.resets += 1;
            if (event.event === FLEET_EVENT)
              reader.events.push(parse(FleetEventSchema, JSON.parse(event.data), 'an event'));
          }
        }
      } catch {
        // Closed by the test.
      }
    })();
    return reader;
  }

  of(kind: string, device?: string): FleetEvent[] {
    return this.events.filter((e) => e.kind === kind && (device === undefined || e.device === device));
  }

  close(): void {
    this.abort.abort();
  }
}

function service(name: string, releaseId: string, extra: Partial<ServiceReport> = {}): ServiceReport {
  return {
    name,
    releaseId,
    image: `registry.example/${name}@sha256:${'a'.repeat(64)}`,
    containerId: `c-${name}`,
    state: 'running',
    health: 'healthy',
    exitCode: null,
    ...extra,
  };
}

describe('registry-api: fleet events, webhooks, fleet status and metrics history', function () {
  this.timeout(180_000);
  let dataDir: string;
  let database: TestStoreLocation;
  let a: Instance;
  let b: Instance;
  let clock = new Date('2026-06-01T10:00:03.000Z');
  let release1: ReleaseRecord;
  let release2: ReleaseRecord;
  const device = TestDevice.create('5e0e1500-0000-4000-8000-000000000001', () => clock);
  const waiting = TestDevice.create('5e0e1500-0000-4000-8000-000000000002', () => clock);
  const looping = TestDevice.create('5e0e1500-0000-4000-8000-000000000003', () => clock);
  const tokens = new Map<string, string>();
  let provisioningKey: string;
  let otherKey: string;
  const readers: Reader[] = [];

  async function start(): Promise<Instance> {
    const store = await openStore(database.location);
    const logger = createLogger('registry-api', { test: true });
    logger.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
    const now = (): Date => clock;
    const redisUrl = loadTestEnv().redisUrl;
    const jobs = startInProcessQueue({ store, logger, now, registryToken: null });
    const invalidation: InvalidationBus = await redisInvalidation({
      changes: store.changes,
      redisUrl,
      channel: `skiff-test-${path.basename(dataDir)}:invalidation`,
      logger,
    });
    const events = new FleetEventBus(now);
    const relay: EventRelay = await redisEventRelay(events, {
      redisUrl,
      channel: `skiff-test-${path.basename(dataDir)}:fleet-events`,
      logger,
    });
    // Driven by the test: no timer of its own fires within a test's time.
    const activityOf = (): FleetActivity =>
      startFleetActivity({
        store,
        events,
        logger,
        now,
        version: '0.0.0',
        settings: {
          presenceSweepMs: 3_600_000,
          compactionMs: 3_600_000,
          webhookPollMs: 3_600_000,
          webhookTimeoutMs: 2_000,
          webhookBackoffMs: 1_000,
          webhookMaxAttempts: 5,
        },
      });
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
      events,
      eventStream: { ringSize: 50 },
    });
    const server = createServer(app.callback());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const instance: Instance = {
      url,
      store,
      admin: new ApiClient({ baseUrl: url, token: ADMIN_TOKEN }),
      activity: activityOf(),
      async restartActivity() {
        await instance.activity.close();
        instance.activity = activityOf();
      },
      async close() {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await instance.activity.close();
        await jobs.close();
        await relay.close();
        await invalidation.close();
        await store.close();
      },
    };
    return instance;
  }

  async function reader(instance: Instance, options: { fleet?: string; lastEventId?: string } = {}): Promise<Reader> {
    const opened = await Reader.open(instance.url, ADMIN_TOKEN, options);
    readers.push(opened);
    return opened;
  }

  async function report(instance: Instance, who: TestDevice, body: Partial<StateReport>): Promise<void> {
    const full: StateReport = {
      supervisorVersion: '9.9.9',
      updateStatus: 'converged',
      targetReleaseId: release1.id,
      releaseId: release1.id,
      services: [service('reader', release1.id)],
      error: null,
      reportedAt: clock.toISOString(),
      ...body,
    };
    const response = await fetch(`${instance.url}${paths.state(who.uuid)}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${tokens.get(who.uuid)}`, 'content-type': 'application/json' },
      body: JSON.stringify(full),
    });
    assert.equal(response.status, 204, await response.text());
  }

  function metrics(cpuPercent: number, temperatureCelsius: number | null): DeviceMetrics {
    return {
      cpuPercent,
      memoryUsedBytes: Math.round(cpuPercent * 10_000_000),
      memoryTotalBytes: 1_000_000_000,
      temperatureCelsius,
      diskUsedBytes: 2_000_000_000,
      diskTotalBytes: 8_000_000_000,
      uptimeSeconds: 100,
    };
  }

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-fleet-events-'));
    database = await testStoreLocation(dataDir);
    a = await start();
    b = await start();
    const fleet = await a.admin.createFleet({ name: 'meters', deviceType: 'generic-amd64', pollIntervalSeconds: 60 });
    otherKey = (await a.admin.createFleet({ name: 'other', deviceType: 'generic-amd64' })).provisioningKey;
    provisioningKey = fleet.provisioningKey;
    // Ready releases straight through the store: their images are not what this test is about.
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
        { actor: 'admin', at: clock.toISOString() },
      );
    release1 = await release('1');
    release2 = await release('2');
  });

  after(async () => {
    for (const r of readers) r.close();
    await a?.close();
    await b?.close();
    await database?.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("every instance's readers hear every instance's events, each once", async () => {
    const onA = await reader(a, { fleet: 'meters' });
    const onB = await reader(b, { fleet: 'meters' });
    assert.equal(onA.status, 200);
    assert.equal(onB.status, 200);
    // One device registers through A, one through B.
    tokens.set(device.uuid, (await device.token(a.url, { fleet: 'meters', provisioningKey })).token);
    tokens.set(waiting.uuid, (await waiting.token(b.url, { fleet: 'meters', provisioningKey })).token);
    tokens.set(looping.uuid, (await looping.token(b.url, { fleet: 'meters', provisioningKey })).token);
    for (const r of [onA, onB]) {
      await until('both readers heard the three registrations', () => r.of('device.registered').length >= 3);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const r of [onA, onB]) {
      const registered = r.of('device.registered');
      assert.equal(registered.length, 3, 'each event once, whichever instance published it');
      assert.equal(new Set(registered.map((e) => e.id)).size, 3);
      assert.deepEqual(new Set(registered.map((e) => e.device)), new Set([device.uuid, waiting.uuid, looping.uuid]));
    }
    assert.deepEqual(
      onA.events.map((e) => e.id),
      onB.events.map((e) => e.id).filter((id) => onA.events.some((e) => e.id === id)),
    );
  });

  it('publishes update started, done and failed, and the device rollback, from its reports', async () => {
    const onA = await reader(a, { fleet: 'meters' });
    await report(b, device, {});
    await report(b, device, { updateStatus: 'downloading', targetReleaseId: release2.id });
    await report(b, device, {
      updateStatus: 'converged',
      targetReleaseId: release2.id,
      releaseId: release2.id,
      services: [service('reader', release2.id)],
    });
    await report(b, device, {
      updateStatus: 'error',
      targetReleaseId: release2.id,
      releaseId: release2.id,
      services: [service('reader', release2.id)],
      error: 'image pull failed: connection reset',
    });
    await report(b, device, {
      updateStatus: 'converged',
      targetReleaseId: release2.id,
      releaseId: release1.id,
      rollback: {
        fromReleaseId: release2.id,
        toReleaseId: release1.id,
        reason: 'reader crash-looped',
        at: clock.toISOString(),
      },
    });
    const kinds = ['device.update.started', 'device.update.done', 'device.update.failed', 'device.rollback'];
    await until('the reader on A heard the four transitions reported to B', () =>
      kinds.every((kind) => onA.of(kind, device.uuid).length > 0),
    );
    const heard = onA.events.filter((e) => e.device === device.uuid).map((e) => e.kind);
    assert.deepEqual(heard, kinds, 'in order, each once');
    const rollback = onA.of('device.rollback')[0]!;
    assert.equal(rollback.release, release2.id);
    assert.equal(rollback.detail?.reason, 'reader crash-looped');
    assert.match(onA.of('device.update.done')[0]!.summary, /runs release 2/);
  });

  it('resumes after Last-Event-ID from what the instance keeps, and says reset when that is gone', async () => {
    const all = await reader(a, { fleet: 'meters' });
    await report(a, device, { updateStatus: 'downloading', targetReleaseId: release2.id, releaseId: release1.id });
    await until('the reader heard the update start', () => all.of('device.update.started').length === 1);
    const mark = all.events[0]!.id;
    await report(a, device, {
      updateStatus: 'converged',
      targetReleaseId: release2.id,
      releaseId: release2.id,
      services: [service('reader', release2.id)],
    });
    await until('the reader heard the update done', () => all.of('device.update.done').length === 1);
    // On B, which heard both through Redis: its ring has them too.
    const resumed = await reader(b, { fleet: 'meters', lastEventId: mark });
    await until('the resumed reader got what came after the mark', () => resumed.events.length >= 1);
    assert.deepEqual(
      resumed.events.map((e) => e.id),
      all.events.slice(1).map((e) => e.id),
    );
    assert.equal(resumed.resets, 0);
    const lost = await reader(b, { fleet: 'meters', lastEventId: 'not-an-event-any-instance-kept' });
    await until('the reader was told events were missed', () => lost.resets === 1);
  });

  it('shows a reader only the fleets it may read', async () => {
    await a.admin.createUser({ name: 'carol', role: null });
    await a.admin.grantFleetRole('carol', 'other', 'viewer');
    const carol = (await a.admin.createToken('carol')).token;
    const refused = await Reader.open(a.url, carol, { fleet: 'meters' });
    assert.equal(refused.status, 403);
    const mine = await Reader.open(b.url, carol);
    readers.push(mine);
    assert.equal(mine.status, 200);
    const admin = await reader(b);
    const other = await a.admin.createFleet({ name: 'other-2', deviceType: 'generic-amd64' });
    const stranger = TestDevice.create('5e0e1500-0000-4000-8000-0000000000f1', () => clock);
    await stranger.token(a.url, { fleet: 'other-2', provisioningKey: other.provisioningKey });
    const neighbour = TestDevice.create('5e0e1500-0000-4000-8000-0000000000f2', () => clock);
    await neighbour.token(a.url, { fleet: 'other', provisioningKey: otherKey });
    await until('the admin heard both registrations', () => admin.of('device.registered').length === 2);
    await until('carol heard the one of her fleet', () => mine.of('device.registered').length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(
      mine.events.map((e) => e.fleet),
      ['other'],
    );
  });

  it('announces online and offline from last contact once, however many instances sweep', async () => {
    const onB = await reader(b, { fleet: 'meters' });
    await a.activity.sweepPresence();
    await b.activity.sweepPresence();
    await until('the three reporting devices were announced online', () => onB.of('device.online').length === 3);
    // Minutes pass without a word from two of them; the third reports.
    clock = new Date(clock.getTime() + 5 * 60_000);
    await report(a, waiting, {});
    await Promise.all([a.activity.sweepPresence(), b.activity.sweepPresence()]);
    await b.activity.sweepPresence();
    await until('two devices were announced offline', () => onB.of('device.offline').length === 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(onB.of('device.offline').length, 2, 'once each, though both instances swept');
    assert.deepEqual(new Set(onB.of('device.offline').map((e) => e.device)), new Set([device.uuid, looping.uuid]));
    assert.equal(onB.of('device.online').length, 3);
  });

  it("counts the fleet's devices by release, update status, online and health, and says who waits for a window", async () => {
    await a.admin.updateFleet('meters', {
      updateWindow: { cron: '0 2 * * *', durationMinutes: 120, timezone: 'Europe/Stockholm' },
    });
    await report(a, device, {
      updateStatus: 'converged',
      targetReleaseId: release2.id,
      releaseId: release2.id,
      services: [service('reader', release2.id)],
    });
    // Midway: one service already on 2, the other still on 1, waiting for the window to apply.
    await report(b, waiting, {
      updateStatus: 'downloading',
      targetReleaseId: release2.id,
      releaseId: null,
      services: [service('reader', release2.id), service('tunnel', release1.id)],
      updateWindow: {
        state: 'closed',
        downloadAllowed: false,
        applyAllowed: false,
        closesAt: null,
        // 02:00 in Stockholm (CEST, UTC+2) on the next day.
        nextOpening: '2026-06-02T00:00:00.000Z',
      },
    });
    await report(b, looping, {
      updateStatus: 'converged',
      targetReleaseId: release2.id,
      releaseId: release2.id,
      services: [service('reader', release2.id, { restartLoop: true, restarts: 12, state: 'restarting' })],
    });
    const status = await b.admin.fleetStatus('meters');
    assert.equal(status.devices, 3);
    assert.equal(status.online, 3);
    assert.equal(status.offline, 0);
    assert.deepEqual(status.byRelease, { '2': 2, '(mixed)': 1 });
    assert.deepEqual(status.byUpdateStatus, { converged: 2, 'waiting-window': 1 });
    assert.deepEqual(status.byHealth, { healthy: 2, 'restart-loop': 1 });
    const row = status.deviceList.find((d) => d.uuid === waiting.uuid);
    assert.equal(row?.activity, 'waiting for update window, opens 02:00 Europe/Stockholm');
    assert.equal(row?.running, 'reader 2, tunnel 1');
    const listed = (await a.admin.listDevices('meters')).find((d) => d.uuid === waiting.uuid);
    assert.equal(listed?.runningRelease, null);
    assert.equal(listed?.running, 'reader 2, tunnel 1', '`skiff devices` shows what runs midway too');
    assert.equal(status.deviceList[0]?.uuid, looping.uuid, 'the unhealthy device first');
    assert.match(status.deviceList[0]!.activity, /restart-loop: reader/);
  });

  it('keeps metrics raw for an hour, in 15-minute buckets with average, minimum and maximum after', async () => {
    // A bucket's start, and samples in three 10-second slots of it; two reports in one slot keep the later one.
    clock = new Date('2026-06-01T12:00:01.000Z');
    const t0 = clock.getTime();
    await report(a, device, { metrics: metrics(10, 40) });
    clock = new Date(t0 + 2_000);
    await report(a, device, { metrics: metrics(90, 80) });
    clock = new Date(t0 + 20_000);
    await report(b, device, { metrics: metrics(30, 50) });
    clock = new Date(t0 + 40_000);
    await report(a, device, { metrics: metrics(60, null) });

    const raw = await a.admin.deviceMetrics(device.uuid, {
      from: new Date(t0 - 60_000).toISOString(),
      to: new Date(t0 + 60_000).toISOString(),
    });
    assert.equal(raw.resolution, 'raw');
    assert.deepEqual(
      raw.points.map((p) => [p.at, p.cpuPercent.avg]),
      [
        ['2026-06-01T12:00:00.000Z', 90],
        ['2026-06-01T12:00:20.000Z', 30],
        ['2026-06-01T12:00:40.000Z', 60],
      ],
    );

    // Two hours later the same minutes come as one bucket.
    clock = new Date(t0 + 2 * 3_600_000);
    const bucketed = await b.admin.deviceMetrics(device.uuid, {
      from: new Date(t0 - 60_000).toISOString(),
      to: new Date(t0 + 15 * 60_000).toISOString(),
    });
    assert.equal(bucketed.resolution, '15m');
    assert.equal(bucketed.points.length, 1);
    const bucket = bucketed.points[0]!;
    assert.equal(bucket.at, '2026-06-01T12:00:00.000Z');
    assert.equal(bucket.samples, 3, 'the replaced sample does not count twice');
    assert.equal(bucket.cpuPercent.avg, 60);
    assert.equal(bucket.cpuPercent.min, 10, 'minimum and maximum keep what was seen, the replaced sample too');
    assert.equal(bucket.cpuPercent.max, 90);
    assert.deepEqual(bucket.temperatureCelsius, { avg: 65, min: 40, max: 80 });

    // Compaction drops raw samples past their hour; the bucket stays for 30 days.
    const beforeCompaction = await a.store.metrics.series(
      device.uuid,
      { fromMs: t0 - 60_000, toMs: t0 + 60_000 },
      t0,
      100,
    );
    assert.equal(beforeCompaction.points.length, 3);
    await a.activity.compact();
    const afterCompaction = await a.store.metrics.series(
      device.uuid,
      { fromMs: t0 - 60_000, toMs: t0 + 60_000 },
      t0,
      100,
    );
    assert.equal(afterCompaction.points.length, 0);
    clock = new Date(t0 + 29 * 86_400_000);
    assert.equal(
      (
        await a.admin.deviceMetrics(device.uuid, {
          from: new Date(t0 - 60_000).toISOString(),
          to: new Date(t0 + 60_000).toISOString(),
        })
      ).points.length,
      1,
    );
    clock = new Date(t0 + 31 * 86_400_000);
    await b.activity.compact();
    const gone = await a.store.metrics.series(
      device.uuid,
      { fromMs: t0 - 60_000, toMs: t0 + 60_000 },
      clock.getTime(),
      100,
    );
    assert.equal(gone.points.length, 0);
    await assert.rejects(
      a.admin.deviceMetrics(device.uuid, { from: new Date(t0).toISOString() }),
      (err: unknown) => err instanceof ApiProblemError && /more than 30 days back/.test(err.message),
    );
  });

  it('delivers webhooks signed, retried across a receiver outage and an API restart, to admins only', async () => {
    const received: { headers: IncomingMessage['headers']; body: string }[] = [];
    let receiver: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'text/plain' });
        // More than the API reads of an answer: it must not care.
        res.end('x'.repeat(64 * 1024));
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    const port = (receiver.address() as AddressInfo).port;
    const listener = receiver.listeners('request')[0] as Parameters<typeof createServer>[1];

    const operator = await a.admin.createUser({ name: 'oscar', role: 'operator' });
    const operatorClient = new ApiClient({ baseUrl: a.url, token: (await a.admin.createToken(operator.name)).token });
    await assert.rejects(
      operatorClient.createWebhook({ url: `http://127.0.0.1:${port}/hook`, fleet: 'meters' }),
      (err: unknown) => err instanceof ApiProblemError && err.problem.status === 403,
    );
    const hook = await a.admin.createWebhook({
      url: `http://127.0.0.1:${port}/hook`,
      fleet: 'meters',
      kinds: ['device.update.failed'],
    });
    assert.match(hook.secret, /^whsec_/);
    const listed = await b.admin.listWebhooks();
    assert.deepEqual(
      listed.map((h) => h.id),
      [hook.id],
    );
    assert.equal(JSON.stringify(listed).includes(hook.secret), false, 'the secret is shown once');

    // A month passed in the metrics test: the device signs in again.
    tokens.set(device.uuid, (await device.token(b.url, { fleet: 'meters', provisioningKey })).token);
    // Delivered at once while the receiver is up; events of other kinds are not sent.
    await report(b, device, { updateStatus: 'downloading', targetReleaseId: release1.id, releaseId: release2.id });
    await report(b, device, {
      updateStatus: 'error',
      targetReleaseId: release1.id,
      releaseId: release2.id,
      error: 'disk full',
    });
    await until('the receiver got the failure', () => received.length === 1);
    const first = received[0]!;
    assert.equal(first.headers[WEBHOOK_EVENT_HEADER.toLowerCase()], 'device.update.failed');
    const signature = String(first.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()]);
    const nowSeconds = Math.floor(clock.getTime() / 1000);
    assert.equal(verifyWebhookSignature(hook.secret, signature, first.body, nowSeconds), null);
    assert.notEqual(verifyWebhookSignature('whsec_wrong', signature, first.body, nowSeconds), null);
    assert.notEqual(verifyWebhookSignature(hook.secret, signature, `${first.body} `, nowSeconds), null);
    const event = parse(FleetEventSchema, JSON.parse(first.body), 'the delivered event');
    assert.equal(event.device, device.uuid);
    assert.equal(event.detail?.error, 'disk full');

    // The receiver goes away: the next failure's delivery fails and waits for its retry.
    receiver.closeAllConnections();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
    await report(a, device, { updateStatus: 'converged', targetReleaseId: release1.id, releaseId: release1.id });
    await report(a, device, {
      updateStatus: 'error',
      targetReleaseId: release2.id,
      releaseId: release1.id,
      error: 'no space',
    });
    const pendingOne = async () =>
      (await a.admin.webhookDeliveries(hook.id)).find((d) => d.state === 'pending' && d.attempts >= 1) ?? null;
    await until('the delivery failed once and waits', async () => (await pendingOne()) !== null);
    const failedOnce = (await pendingOne())!;
    assert.equal(failedOnce.lastStatus, null);
    assert.match(failedOnce.lastError ?? '', /no answer/);
    assert.equal(received.length, 1);

    // The API restarts while the receiver is down; the retry is in the store and is due once time passes.
    await a.restartActivity();
    await b.restartActivity();
    clock = new Date(clock.getTime() + 1_500);
    await a.activity.deliverDue();
    await until('the second attempt failed too', async () => ((await pendingOne())?.attempts ?? 0) >= 2);
    receiver = createServer(listener);
    receiver.listen(port, '127.0.0.1');
    await once(receiver, 'listening');
    clock = new Date(clock.getTime() + 5_000);
    await b.activity.deliverDue();
    await until('the receiver got the retried failure', () => received.length === 2);
    const second = received[1]!;
    assert.equal(second.headers[WEBHOOK_DELIVERY_HEADER.toLowerCase()], failedOnce.id, 'the same delivery, retried');
    assert.equal(
      verifyWebhookSignature(
        hook.secret,
        String(second.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()]),
        second.body,
        Math.floor(clock.getTime() / 1000),
      ),
      null,
    );
    assert.equal(parse(FleetEventSchema, JSON.parse(second.body), 'the retried event').detail?.error, 'no space');
    const settled = (await a.admin.webhookDeliveries(hook.id)).find((d) => d.id === failedOnce.id);
    assert.equal(settled?.state, 'delivered');
    assert.equal(settled?.attempts, 3);
    assert.equal(settled?.lastStatus, 200);
    // Nothing more is due: no double delivery.
    clock = new Date(clock.getTime() + 60_000);
    await a.activity.deliverDue();
    await b.activity.deliverDue();
    assert.equal(received.length, 2);

    const removed = await a.admin.deleteWebhook(hook.id);
    assert.equal(removed.id, hook.id);
    assert.deepEqual(await a.admin.listWebhooks(), []);
    receiver.closeAllConnections();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });
});

describe('registry-api: the fleet events stream holds no slow reader', function () {
  this.timeout(120_000);
  let dataDir: string;
  let database: TestStoreLocation;
  let store: Store;
  let server: Server;
  let url: string;
  const events = new FleetEventBus();

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-fleet-events-slow-'));
    database = await testStoreLocation(dataDir);
    store = await openStore(database.location);
    const logger = createLogger('registry-api', { test: true });
    logger.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
    const app = createApp({
      store,
      adminToken: ADMIN_TOKEN,
      registry: null,
      version: '0.0.0',
      signingKey: signingKeyOf(dataDir, null),
      logger,
      events,
      eventStream: { heartbeatMs: 200, maxBufferedBytes: 64 * 1024 },
    });
    server = createServer(app.callback());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await new ApiClient({ baseUrl: url, token: ADMIN_TOKEN }).createFleet({
      name: 'meters',
      deviceType: 'generic-amd64',
    });
  });

  after(async () => {
    server?.closeAllConnections();
    server?.close();
    await store?.close();
    await database?.dispose();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('sends heartbeats, and cuts off a reader that stopped reading while the others go on', async () => {
    const reading = await Reader.open(url, ADMIN_TOKEN, { fleet: 'meters' });
    // A reader that asks and then never reads a byte: its socket fills, then the API's buffer.
    const stalled = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
    await once(stalled, 'connect');
    stalled.write(
      `GET /v1/events?fleet=meters HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nAccept: text/event-stream\r\n\r\n`,
    );
    stalled.pause();
    const closed = once(stalled, 'close');
    let heartbeats = 0;
    const raw = await fetch(`${url}/v1/events?fleet=meters`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const rawBody = raw.body!.getReader();
    void (async () => {
      for (;;) {
        const chunk = await rawBody.read().catch(() => ({ done: true as const, value: undefined }));
        if (chunk.done) return;
        heartbeats += (
          Buffer.from(chunk.value)
            .toString('utf8')
            .match(/: heartbeat/g) ?? []
        ).length;
      }
    })();
    await until('heartbeats arrived', () => heartbeats >= 2);

    // Some 16 MB of events of about 1 kB: far more than the sockets' kernel buffers and the API's bound together.
    let sent = 0;
    while (sent < 16_000) {
      // Bursts the hard bound holds, with time for a reader that reads to keep up.
      for (let i = 0; i < 50; i += 1) {
        events.publish({ kind: 'release.created', fleet: 'meters', summary: 'x'.repeat(1000) });
        sent += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await until('the reading reader got every event', () => reading.events.length === sent);
    // The stalled reader reads at last: what it finds ends early, the API having cut it off.
    let stalledBytes = 0;
    stalled.on('data', (chunk: Buffer) => {
      stalledBytes += chunk.length;
    });
    stalled.on('error', () => undefined);
    stalled.resume();
    await closed;
    assert.ok(stalledBytes < sent * 1000, `the stalled reader got ${stalledBytes} bytes, not all ${sent} events`);
    reading.close();
    await rawBody.cancel();
    stalled.destroy();
  });
});

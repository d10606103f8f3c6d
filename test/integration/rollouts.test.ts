// Rollouts on a real API (SQLite, or PostgreSQL with SKIFF_TEST_STORE=postgres): 200 simulated devices, each
// signing in with its own key, polling its signed target and reporting what it runs as a supervisor would, half of
// them through each of two API instances over one database (both running the rollout driver, so each step must be
// taken once). Phases 1%/10%/100%: a good release completes, canaries first; a release whose application fails
// halts in its first phase with its numbers in the audit log and the rest of the fleet untouched; abort sends the
// phase back; the API restarted mid-rollout carries on; an emergency stop halts the fleet's rollouts.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApiClient, ApiProblemError } from '../../cli/api-client.js';
import { createLogger } from '../../lib/logger.js';
import type { FleetEvent } from '../../protocol/fleet-events.js';
import type { Rollout } from '../../protocol/rollouts.js';
import type { StateReport } from '../../protocol/state-report.js';
import { FleetEventBus } from '../../registry-api/events/bus.js';
import { redisInvalidation } from '../../registry-api/fleet/invalidation.js';
import { createApp } from '../../registry-api/http/app.js';
import { startInProcessQueue } from '../../registry-api/jobs/start.js';
import { signingKeyOf } from '../../registry-api/keys/signing-key.js';
import { RolloutDriver } from '../../registry-api/rollouts/driver.js';
import type { ReleaseRecord, Store } from '../../registry-api/store/index.js';
import { openStore } from '../../registry-api/store/open.js';
import { loadTestEnv } from '../../harness/env.js';
import { mapLimit } from '../../harness/map-limit.js';
import { testStoreLocation, type TestStoreLocation } from '../../harness/test-store.js';
import { runningReport, SimulatedDevice } from '../../harness/simulated-device.js';
import { TestDevice } from '../../harness/test-device.js';

const ADMIN_TOKEN = 'rollouts-admin-token-0123456789abcdef01234';
const DEVICES = 200;
const FLEET = 'meters';

interface Instance {
  url: string;
  admin: ApiClient;
  store: Store;
  close(): Promise<void>;
}

describe('rollouts: phases judged by the fleet health, 200 simulated devices, two API instances', function () {
  this.timeout(300_000);
  let dataDir: string;
  let database: TestStoreLocation;
  let instances: Instance[] = [];
  const events: FleetEvent[] = [];
  const releases: Record<string, ReleaseRecord> = {};
  const sims: SimulatedDevice[] = [];
  /** Releases whose application fails on every device. */
  const failing = new Set<string>();

  async function start(): Promise<Instance> {
    const store = await openStore(database.location);
    const logger = createLogger('registry-api', { test: true });
    logger.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
    const now = (): Date => new Date();
    const jobs = startInProcessQueue({ store, logger, now, registryToken: null });
    const invalidation = await redisInvalidation({
      changes: store.changes,
      redisUrl: loadTestEnv().redisUrl,
      channel: `skiff-test-${path.basename(dataDir)}:invalidation`,
      logger,
    });
    const bus = new FleetEventBus(now);
    bus.subscribe((event) => events.push(event));
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
      events: bus,
    });
    const driver = new RolloutDriver({ store, events: bus, logger, now, tickMs: 150 }).start();
    const server: Server = createServer(app.callback());
    // Idle keep-alive connections outlive the client's own idle timeout, so a request never meets a socket the
    // server is closing at that moment (a reset the simulated fleet would otherwise see on a loaded machine).
    server.keepAliveTimeout = 60_000;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      url,
      store,
      admin: new ApiClient({ baseUrl: url, token: ADMIN_TOKEN }),
      async close() {
        await driver.stop();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await jobs.close();
        await invalidation.close();
        await store.close();
      },
    };
  }

  const admin = (): ApiClient => instances[0]!.admin;

  const reportOf = (releaseId: string | null): StateReport =>
    runningReport(releaseId, { appFailing: releaseId !== null && failing.has(releaseId) });

  /**
   * One round of the fleet: every device polls its target (even ones through the first instance, odd through the
   * last) and, when what it runs changed, converges at once and reports it, as a supervisor on a quick link would;
   * `report` false: only looks, so no phase can pass meanwhile.
   */
  async function round(report = true): Promise<void> {
    await mapLimit(sims, 16, async (sim) => {
      const instance = instances[sims.indexOf(sim) % instances.length]!;
      await sim.step(instance.url, reportOf, report);
    });
  }

  /** Rounds of the fleet until `done` says so, or throws with the last rollout seen after `timeoutMs`. */
  async function until(id: string, done: (rollout: Rollout) => boolean, timeoutMs = 120_000): Promise<Rollout> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await round();
      const rollout = await admin().getRollout(id, FLEET);
      if (done(rollout)) return rollout;
      if (Date.now() > deadline)
        throw new Error(`rollout ${id} not there after ${timeoutMs} ms: ${JSON.stringify(rollout, null, 1)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function audit(rollout: string): Promise<{ action: string; detail: Record<string, unknown> }[]> {
    const entries = await admin().listAudit({ fleet: FLEET, limit: 999 });
    return entries.filter((entry) => entry.target === `rollout:${rollout}`).reverse();
  }

  const targets = (): Map<string, string | null> => new Map(sims.map((sim) => [sim.device.uuid, sim.target]));
  const version = (id: string | null): string | undefined =>
    Object.values(releases).find((release) => release.id === id)?.version;

  async function release(store: Store, v: string): Promise<ReleaseRecord> {
    const at = new Date().toISOString();
    releases[v] = await store.releases.create(
      {
        fleet: FLEET,
        version: v,
        status: 'ready',
        compose: 'services:\n  reader:\n    image: reader\n',
        services: [],
        volumes: [],
        networks: [],
        images: {},
        notes: null,
        createdAt: at,
      },
      { actor: 'admin', at },
    );
    return releases[v]!;
  }

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-rollouts-'));
    database = await testStoreLocation(dataDir);
    instances = [await start(), await start()];
    const fleet = await admin().createFleet({ name: FLEET, deviceType: 'generic-amd64' });
    const store = instances[0]!.store;
    for (const v of ['1', '2', '3', '4']) await release(store, v);
    // The operator holds the fleet on 1 and moves it on by rollouts only.
    await admin().pin(FLEET, '1');
    for (let i = 0; i < DEVICES; i += 1)
      sims.push(new SimulatedDevice(TestDevice.create(`5e110000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`)));
    await mapLimit(sims, 8, (sim) =>
      sim.signIn(instances[0]!.url, { fleet: FLEET, provisioningKey: fleet.provisioningKey }),
    );
    await admin().updateDevice(sims[150]!.device.uuid, { tags: ['canary', 'north'] });
    await admin().updateDevice(sims[151]!.device.uuid, { tags: ['canary'] });
    // A device pinned by hand stays out of every rollout.
    await admin().pinDevice(sims[199]!.device.uuid, '1');
    await round();
    assert.ok(sims.every((sim) => sim.reported === releases['1']!.id));
  });

  after(async () => {
    for (const instance of instances) await instance.close();
    await database?.dispose();
    await rm(dataDir, { recursive: true, force: true });
  });

  let good: Rollout;

  it('sends a good release phase by phase, canaries first, and completes; devices not reached keep theirs', async () => {
    good = await admin().createRollout(FLEET, {
      release: '2',
      phases: [{ percent: 1 }, { percent: 10 }, { percent: 100 }],
      successPercent: 95,
      failurePercent: 5,
      deadlineSeconds: 600,
    });
    assert.equal(good.state, 'running');
    assert.equal(good.excluded, 1, 'the pinned device stays out');
    assert.deepEqual(
      good.phases.map((phase) => [phase.state, phase.counts.devices]),
      [
        ['running', 2],
        ['waiting', 18],
        ['waiting', 179],
      ],
    );
    assert.equal(good.phases[0]?.counts.assigned, 2, 'the first phase is assigned at once');

    await round(false);
    const now = targets();
    const onTwo = [...now].filter(([, target]) => target === releases['2']!.id).map(([uuid]) => uuid);
    assert.deepEqual(onTwo.sort(), [sims[150]!.device.uuid, sims[151]!.device.uuid], 'the canaries go first');
    assert.equal([...now.values()].filter((target) => target === releases['1']!.id).length, DEVICES - 2);

    const done = await until(good.id, (rollout) => rollout.state === 'completed');
    // It completes at the success threshold, not later: at least 95% of the last phase's 179.
    const healthyAtEnd = /^completed: phase 3 \(100%\) passed with (\d+) of 179 devices healthy/.exec(
      done.reason ?? '',
    );
    assert.ok(healthyAtEnd, done.reason ?? 'no reason');
    assert.ok(Number(healthyAtEnd[1]) >= 171, done.reason ?? '');
    // The few devices that had polled in the round before their assignment take the release in the next one.
    await round();
    const settled = await admin().getRollout(good.id, FLEET);
    assert.deepEqual(
      settled.phases.map((phase) => [phase.state, phase.counts.healthy, phase.counts.failed]),
      [
        ['passed', 2, 0],
        ['passed', 18, 0],
        ['passed', 179, 0],
      ],
    );
    assert.equal(sims.filter((sim) => sim.reported === releases['2']!.id).length, DEVICES - 1);
    assert.equal(sims[199]!.target, releases['1']!.id, 'a device pin wins over a rollout');

    // Each step once, though two instances' drivers judged it; every decision with its numbers.
    const steps = (await audit(good.id)).filter((entry) => entry.action !== 'rollout.assign');
    assert.deepEqual(
      steps.map((entry) => entry.action),
      ['rollout.create', 'rollout.advance', 'rollout.advance', 'rollout.complete'],
    );
    assert.deepEqual(steps[1]?.detail.counts, {
      devices: 2,
      assigned: 2,
      updated: 2,
      healthy: 2,
      failed: 0,
      pending: 0,
      rolledBack: 0,
    });
    const assigned = (await audit(good.id))
      .filter((entry) => entry.action === 'rollout.assign')
      .reduce((sum, entry) => sum + Number(entry.detail.assigned), 0);
    assert.equal(assigned, DEVICES - 1, 'every device assigned once');
    const kinds = events.filter((event) => event.rollout === good.id).map((event) => event.kind);
    for (const kind of [
      'rollout.created',
      'rollout.phase.started',
      'rollout.phase.passed',
      'rollout.completed',
    ] as const)
      assert.ok(kinds.includes(kind), `${kind} published (${kinds.join(', ')})`);
  });

  let bad: Rollout;

  it('halts a release whose application fails in its first phase, numbers in the audit log, the rest untouched', async () => {
    failing.add(releases['3']!.id);
    const before = targets();
    bad = await admin().createRollout(FLEET, {
      release: '3',
      phases: [{ percent: 1 }, { percent: 10 }, { percent: 100 }],
      successPercent: 95,
      failurePercent: 5,
      // Long enough for the simulated devices to take and report the release on a heavily loaded machine (a round
      // of the 200 takes seconds there): they must fail by what they report, not by never reporting.
      deadlineSeconds: 30,
    });
    const halted = await until(bad.id, (rollout) => rollout.state !== 'running', 120_000);
    assert.equal(halted.state, 'halted');
    assert.match(halted.reason ?? '', /^phase 1 \(1%\) halted: 2 of 2 devices failed \(100% > 5%\)$/);
    assert.deepEqual(
      halted.phases.map((phase) => [phase.state, phase.counts.assigned]),
      [
        ['failed', 2],
        ['waiting', 0],
        ['waiting', 0],
      ],
    );
    const entry = (await audit(bad.id)).find((e) => e.action === 'rollout.halt');
    assert.ok(entry, 'the halt is audited');
    assert.equal(entry.detail.failurePercent, 5);
    assert.deepEqual(entry.detail.counts, {
      devices: 2,
      assigned: 2,
      updated: 2,
      healthy: 0,
      failed: 2,
      pending: 0,
      rolledBack: 0,
    });
    const failures = entry.detail.failures as { reason: string }[];
    assert.equal(failures.length, 2);
    for (const failure of failures) assert.match(failure.reason, /service reader reports its application failing/);
    const haltEvent = events.find((event) => event.rollout === bad.id && event.kind === 'rollout.halted');
    assert.match(haltEvent?.summary ?? '', /2 of 2 devices failed/);

    await round();
    const after = targets();
    const moved = [...after].filter(([uuid, target]) => before.get(uuid) !== target).map(([uuid]) => uuid);
    assert.equal(moved.length, 2, 'only the first phase got the release');
    for (const uuid of moved) assert.equal(version(after.get(uuid) ?? null), '3');
  });

  it("aborts: the phase's devices go back to the release they had", async () => {
    await assert.rejects(
      admin().rolloutAction(FLEET, bad.id, 'resume'),
      (err: unknown) =>
        err instanceof ApiProblemError && err.problem.status === 409 && /halted cannot resume/.test(err.problem.detail),
    );
    const aborted = await admin().rolloutAction(FLEET, bad.id, 'abort', 'meters stopped reading');
    assert.equal(aborted.state, 'aborted');
    assert.deepEqual(
      aborted.phases.map((phase) => [phase.state, phase.counts.rolledBack]),
      [
        ['rolled-back', 2],
        ['skipped', 0],
        ['skipped', 0],
      ],
    );
    await round();
    assert.equal(sims.filter((sim) => sim.reported === releases['3']!.id).length, 0);
    assert.equal(sims.filter((sim) => sim.reported === releases['2']!.id).length, DEVICES - 1);
    const entry = (await audit(bad.id)).find((e) => e.action === 'rollout.abort');
    assert.equal(entry?.detail.rolledBack, 2);
    assert.equal(entry?.detail.note, 'meters stopped reading');
  });

  it('carries on after the API restarts mid-rollout', async () => {
    const rollout = await admin().createRollout(FLEET, {
      release: '4',
      phases: [{ percent: 1 }, { percent: 10 }, { percent: 100 }],
      deadlineSeconds: 600,
      // 20 a second: the last phase takes about nine seconds, time to stop the API in its middle.
      ratePerMinute: 1200,
    });
    await until(rollout.id, (r) => r.phase === 2 && (r.phases[2]?.counts.assigned ?? 0) > 0);
    for (const instance of instances) await instance.close();
    instances = [];
    instances = [await start()];
    await until(rollout.id, (r) => r.state === 'completed');
    // It may complete at the threshold with a few devices assigned after they polled: one more round brings them.
    await round();
    const done = await admin().getRollout(rollout.id, FLEET);
    assert.deepEqual(
      done.phases.map((phase) => [phase.state, phase.counts.healthy]),
      [
        ['passed', 2],
        ['passed', 18],
        ['passed', 179],
      ],
    );
    assert.equal(sims.filter((sim) => sim.reported === releases['4']!.id).length, DEVICES - 1);
  });

  it('halts every running rollout of the fleet on an emergency stop', async () => {
    const slow = await admin().createRollout(FLEET, {
      release: '2',
      phases: [{ percent: 50 }, { percent: 100 }],
      ratePerMinute: 1,
    });
    const stop = await admin().stopFleet(FLEET, 'storm warning');
    assert.deepEqual(stop, { fleet: FLEET, halted: [slow.id] });
    const halted = await admin().getRollout(slow.id);
    assert.equal(halted.state, 'halted');
    assert.match(halted.reason ?? '', /emergency stop of fleet 'meters' by admin: storm warning/);
    assert.ok(events.some((event) => event.kind === 'fleet.emergency-stop' && event.fleet === FLEET));
    // Nothing more is assigned while it is halted.
    const assigned = halted.phases[0]?.counts.assigned;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal((await admin().getRollout(slow.id)).phases[0]?.counts.assigned, assigned);
    assert.equal((await admin().listRollouts(FLEET)).length, 4);
  });
});

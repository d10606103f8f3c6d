// Fleet settings, config vars, release verification and /metrics, against a real API (harness/api-server.ts)
// whose job worker runs on BullMQ in the environment's Redis, and images in the environment's registry.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApiProblemError } from '../../cli/api-client.js';
import { createLogger } from '../../lib/logger.js';
import type { Jobs } from '../../registry-api/jobs/index.js';
import { startJobs } from '../../registry-api/jobs/start.js';
import { resumePendingVerifications } from '../../registry-api/jobs/verify-release.js';
import { openStore } from '../../registry-api/store/open.js';
import { testStoreLocation } from '../../harness/test-store.js';
import type { Fleet } from '../../protocol/api.js';
import type { DeviceAuthResponse } from '../../protocol/device-auth.js';
import { paths } from '../../protocol/http/paths.js';
import { ApiServer } from '../../harness/api-server.js';
import { skiff } from '../../harness/skiff-cli.js';
import { loadTestEnv, type TestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { TestDevice } from '../../harness/test-device.js';

const compose = (services: string[]): string =>
  `${['services:', ...services.flatMap((s) => [`  ${s}:`, '    build: .', '    restart: always'])].join('\n')}\n`;

/** What the API answered with as a problem, or a failure if it did not refuse. */
async function refusal(call: Promise<unknown>): Promise<ApiProblemError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ApiProblemError) return err;
    throw err;
  }
  assert.fail('the API accepted what it should have refused');
}

/** A 127.0.0.1 port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

describe('fleet settings, config vars and release verification (BullMQ on Redis)', function () {
  this.timeout(120_000);
  let env: TestEnv;
  let api: ApiServer;
  let fleet: Fleet;
  let image1: string;
  let device: TestDevice;
  let auth: DeviceAuthResponse;

  before(async () => {
    env = loadTestEnv();
    api = await ApiServer.start({ registry: env.registry, retry: { attempts: 3, backoffMs: 100 } });
    fleet = await api.createFleet(`cfg-${randomBytes(3).toString('hex')}`);
    image1 = await buildTestImage(env, { repo: 'cfg' });
    device = TestDevice.create(randomUUID());
    auth = await device.token(api.url, { fleet: fleet.name, provisioningKey: fleet.provisioningKey });
  });

  after(async () => {
    await api?.stop();
  });

  it('makes a release ready only after its images were found in the registry, and records who pushed it', async () => {
    const created = await api.admin.createRelease(fleet.name, {
      compose: compose(['meter']),
      images: { meter: image1 },
      version: '1',
    });
    assert.equal(created.status, 'pending');
    assert.equal(created.verification, null);
    assert.equal(created.pushedBy, 'admin');
    const settled = await api.releaseSettled(fleet.name, '1');
    assert.equal(settled.status, 'ready');
    assert.equal(settled.verification?.failure, null);
    assert.ok(Date.parse(settled.verification?.checkedAt ?? '') >= Date.parse(created.createdAt));
    assert.equal((await api.deviceTarget(device.uuid, auth.token)).release?.version, '1');
  });

  it('fails a release whose digest is not in the registry, says which service and digest, and keeps devices off it', async () => {
    const missing = `${image1.split('@')[0]}@sha256:${randomBytes(32).toString('hex')}`;
    await api.admin.createRelease(fleet.name, {
      compose: compose(['meter', 'tunnel']),
      images: { meter: image1, tunnel: missing },
      version: '2',
    });
    const failed = await api.releaseSettled(fleet.name, '2');
    assert.equal(failed.status, 'failed');
    assert.equal(failed.verification?.failure?.service, 'tunnel');
    assert.equal(failed.verification?.failure?.image, missing);
    assert.match(failed.verification?.failure?.reason ?? '', /HTTP 404/);
    // The fleet tracks its latest READY release: still 1.
    assert.equal((await api.deviceTarget(device.uuid, auth.token)).release?.version, '1');
    const pin = await refusal(api.admin.pin(fleet.name, '2'));
    assert.equal(pin.problem.status, 409);
    assert.match(pin.problem.detail, /release 2 .* is failed, not ready.*service tunnel/);
    const shown = await skiff(api, 'release', 'show', fleet.name, '2');
    assert.match(shown, /Status:\s+failed/);
    assert.match(shown, new RegExp(`service tunnel, image ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const listed = await skiff(api, 'releases', fleet.name);
    assert.match(listed, /PUSHED BY/);
    assert.match(listed, /failed \(tunnel\)\s+admin/);
  });

  it('retries an unreachable registry and fails the release only after the last attempt', async () => {
    const port = await closedPort();
    const unreachable = `127.0.0.1:${port}/cfg/meter@sha256:${'c'.repeat(64)}`;
    await api.admin.createRelease(fleet.name, {
      compose: compose(['meter']),
      images: { meter: unreachable },
      version: '3',
    });
    const failed = await api.releaseSettled(fleet.name, '3');
    assert.equal(failed.status, 'failed');
    assert.match(failed.verification?.failure?.reason ?? '', /did not answer .*ECONNREFUSED.*gave up after 3 attempts/);
  });

  it('merges config vars of fleet and device, the device winning, into a stable target', async () => {
    await api.admin.setFleetVar(fleet.name, 'REGION', 'north');
    await api.admin.setFleetVar(fleet.name, 'METER_BAUD', '115200');
    const before = await fetchTarget(api, device.uuid, auth.token);
    assert.deepEqual(before.json.config.env, { METER_BAUD: '115200', REGION: 'north' });
    const again = await fetchTarget(api, device.uuid, auth.token);
    assert.equal(again.etag, before.etag, 'the same facts give the same ETag');
    const view = await api.admin.setDeviceVar(device.uuid, 'REGION', 'roof');
    assert.deepEqual(view.effective.env, { METER_BAUD: '115200', REGION: 'roof' });
    const after = await fetchTarget(api, device.uuid, auth.token);
    assert.deepEqual(after.json.config.env, { METER_BAUD: '115200', REGION: 'roof' });
    assert.notEqual(after.etag, before.etag);
    await api.admin.unsetDeviceVar(device.uuid, 'REGION');
    // Back to the same facts: the same content, but issued anew with a higher version (a device refuses a lower or
    // equal version with other content, so earlier content comes back as a new issue, never as the old bytes).
    const back = await fetchTarget(api, device.uuid, auth.token);
    const { issued: issuedBefore, ...contentBefore } = before.json;
    const { issued: issuedBack, ...contentBack } = back.json;
    assert.deepEqual(contentBack, contentBefore, 'back to the same facts, back to the same content');
    assert.ok((issuedBack?.version ?? 0) > (issuedBefore?.version ?? 0), 'issued with a higher version');
    assert.notEqual(back.etag, before.etag);
  });

  it('refuses config var names that are not env var names or start with SKIFF_', async () => {
    const reserved = await refusal(api.admin.setFleetVar(fleet.name, 'SKIFF_TOKEN', 'x'));
    assert.equal(reserved.problem.status, 400);
    assert.match(reserved.problem.type, /reserved-config-var/);
    assert.match(reserved.problem.detail, /SKIFF_TOKEN.*reserved/);
    const bad = await refusal(api.admin.setDeviceVar(device.uuid, '1-BAD', 'x'));
    assert.equal(bad.problem.status, 400);
    assert.match(bad.problem.detail, /'1-BAD' is not a config var name/);
    const gone = await refusal(api.admin.unsetFleetVar(fleet.name, 'NEVER_SET'));
    assert.equal(gone.problem.status, 404);
  });

  it('validates update windows: five cron fields, a real IANA time zone', async () => {
    const cron = await refusal(
      api.admin.updateFleet(fleet.name, {
        updateWindow: { cron: '0 25 * * *', durationMinutes: 60, timezone: 'Europe/Amsterdam' },
      }),
    );
    assert.equal(cron.problem.status, 400);
    assert.deepEqual(
      cron.problem.errors?.map((e) => e.path),
      ['/updateWindow/cron'],
    );
    const zone = await refusal(
      api.admin.updateFleet(fleet.name, {
        updateWindow: { cron: '0 2 * * *', durationMinutes: 60, timezone: 'Europe/Atlantis' },
      }),
    );
    assert.deepEqual(
      zone.problem.errors?.map((e) => e.path),
      ['/updateWindow/timezone'],
    );
    const six = await refusal(
      api.admin.updateFleet(fleet.name, {
        updateWindow: { cron: '0 0 2 * * *', durationMinutes: 60, timezone: 'UTC' },
      }),
    );
    assert.match(six.problem.errors?.[0]?.message ?? '', /five fields/);
  });

  it('serves fleet settings to devices, lets a device override them and inherit them again', async () => {
    const window = { cron: '0 2 * * *', durationMinutes: 120, timezone: 'Europe/Amsterdam' };
    const updated = await api.admin.updateFleet(fleet.name, {
      updateWindow: window,
      bandwidthCapBytesPerSecond: 250_000,
      pollIntervalSeconds: 300,
    });
    assert.deepEqual(updated.settings?.updateWindow, window);
    let config = (await fetchTarget(api, device.uuid, auth.token)).json.config;
    assert.deepEqual(config.updateWindow, window);
    assert.equal(config.bandwidthCapBytesPerSecond, 250_000);
    assert.equal(config.pollIntervalSeconds, 300);
    assert.equal(config.overrideLocks, undefined);

    await api.admin.updateDeviceConfig(device.uuid, { updateWindow: null, bandwidthCapBytesPerSecond: 50_000 });
    await skiff(api, 'device', 'override-locks', device.uuid, 'on');
    config = (await fetchTarget(api, device.uuid, auth.token)).json.config;
    assert.equal(config.updateWindow, null, 'the device said: no window, whatever its fleet has');
    assert.equal(config.bandwidthCapBytesPerSecond, 50_000);
    assert.equal(config.overrideLocks, true);

    const view = await api.admin.updateDeviceConfig(device.uuid, {
      inherit: ['updateWindow', 'bandwidthCapBytesPerSecond', 'overrideLocks'],
    });
    assert.deepEqual(view.settings, {});
    config = (await fetchTarget(api, device.uuid, auth.token)).json.config;
    assert.deepEqual(config.updateWindow, window);
    assert.equal(config.bandwidthCapBytesPerSecond, 250_000);
    assert.equal(config.overrideLocks, undefined);
  });

  it('sets "update now" an hour ahead on the API clock, for a fleet and for one device', async () => {
    const t0 = Date.now();
    const fleetNow = await api.admin.fleetUpdateNow(fleet.name);
    const until = Date.parse(fleetNow.settings?.forceUpdateUntil ?? '');
    assert.ok(Math.abs(until - (t0 + 3_600_000)) < 10_000, `forceUpdateUntil ${fleetNow.settings?.forceUpdateUntil}`);
    assert.equal(
      (await fetchTarget(api, device.uuid, auth.token)).json.config.forceUpdateUntil,
      fleetNow.settings?.forceUpdateUntil,
    );
    const out = await skiff(api, 'device', 'update-now', device.uuid, '--minutes', '5', '--json');
    const deviceUntil = Date.parse(JSON.parse(out).effective.forceUpdateUntil);
    assert.ok(Math.abs(deviceUntil - (t0 + 300_000)) < 10_000);
  });

  it('audits every change that affects devices with who and when', async () => {
    const entries = await api.admin.listAudit({ fleet: fleet.name, limit: 200 });
    const actions = new Set(entries.map((e) => e.action));
    for (const action of [
      'config.set',
      'config.unset',
      'fleet.settings',
      'device.settings',
      'release.create',
      'release.ready',
      'release.failed',
    ]) {
      assert.ok(actions.has(action), `audit has ${action}: ${[...actions].join(', ')}`);
    }
    const set = entries.find((e) => e.action === 'config.set' && e.target === `device:${device.uuid}`);
    assert.equal(set?.actor, 'admin');
    assert.equal(set?.detail.name, 'REGION');
    assert.equal(JSON.stringify(set).includes('roof'), false, 'values (maybe secrets) stay out of the audit log');
    assert.equal(entries.find((e) => e.action === 'release.ready')?.actor, 'system');
  });

  it('drives fleet settings and config vars through the CLI, with --json', async () => {
    const shown = await skiff(api, 'fleet', 'set', fleet.name, '--bandwidth-cap', 'none', '--clear-window');
    assert.match(shown, /Update window:\s+none/);
    assert.match(shown, /Bandwidth cap:\s+none/);
    const json = JSON.parse(await skiff(api, 'fleet', 'show', fleet.name, '--json')) as Fleet;
    assert.equal(json.settings?.updateWindow, null);
    await skiff(api, 'config', 'set', 'LOG_LEVEL', 'debug', '--fleet', fleet.name);
    await skiff(api, 'config', 'set', 'LOG_LEVEL', 'warn', '--device', device.uuid);
    const list = await skiff(api, 'config', 'list', '--device', device.uuid);
    assert.match(list, /LOG_LEVEL\s+warn\s+device \(overrides fleet\)/);
    assert.deepEqual(JSON.parse(await skiff(api, 'config', 'list', '--fleet', fleet.name, '--json')), {
      LOG_LEVEL: 'debug',
      METER_BAUD: '115200',
      REGION: 'north',
    });
    await skiff(api, 'config', 'unset', 'LOG_LEVEL', '--fleet', fleet.name);
    assert.equal((await api.admin.fleetVars(fleet.name)).LOG_LEVEL, undefined);
  });

  it('exposes Prometheus metrics to admins and the metrics token only', async () => {
    const anonymous = await fetch(`${api.url}${paths.metrics}`);
    assert.equal(anonymous.status, 401);
    const viewerToken = await api.admin
      .createUser({ name: 'vic', role: 'viewer' })
      .then(() => api.admin.createToken('vic'));
    assert.equal(
      (await fetch(`${api.url}${paths.metrics}`, { headers: { authorization: `Bearer ${viewerToken.token}` } })).status,
      403,
    );
    const answer = await fetch(`${api.url}${paths.metrics}`, {
      headers: { authorization: `Bearer ${api.adminToken}` },
    });
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get('content-type') ?? '', /text\/plain/);
    const text = await answer.text();
    assert.match(
      text,
      /skiff_http_request_duration_seconds_bucket\{le="[^"]+",method="GET",route="\/v1\/fleets\/:fleet\/releases\/:release",status="200"\}/,
    );
    assert.match(
      text,
      /skiff_http_requests_total\{method="PUT",route="\/v1\/fleets\/:fleet\/config\/vars\/:name",status="400"\} [1-9]/,
    );
    assert.match(text, /skiff_releases\{status="ready"\} 1\n/);
    assert.match(text, /skiff_releases\{status="failed"\} 2\n/);
    assert.match(text, new RegExp(`skiff_devices\\{fleet="${fleet.name}",state="online"\\} 1\\n`));
    assert.match(text, /skiff_jobs\{backend="bullmq",state="completed"\} [1-9]/);
    assert.doesNotMatch(text, new RegExp(device.uuid), 'no raw paths as labels');
  });
});

describe('release verification without Redis (in-process) and after a restart', function () {
  this.timeout(60_000);

  it('verifies in-process when no Redis is configured', async () => {
    const env = loadTestEnv();
    const api = await ApiServer.start({ registry: env.registry, redisUrl: null });
    try {
      const fleet = await api.createFleet('in-process');
      const image = await buildTestImage(env, { repo: 'in-process' });
      const created = await api.admin.createRelease(fleet.name, { compose: compose(['a']), images: { a: image } });
      assert.equal(created.status, 'pending');
      assert.equal((await api.releaseSettled(fleet.name, created.id)).status, 'ready');
      // The job counts as completed just after it settled the release (and a delta job may follow): wait for it.
      const completed = /skiff_jobs\{backend="in-process",state="completed"\} [1-9]/;
      let metrics = '';
      for (let tries = 0; tries < 50 && !completed.test(metrics); tries++) {
        if (tries > 0) await new Promise((resolve) => setTimeout(resolve, 100));
        metrics = await (
          await fetch(`${api.url}${paths.metrics}`, { headers: { authorization: `Bearer ${api.adminToken}` } })
        ).text();
      }
      assert.match(metrics, completed);
      assert.doesNotMatch(metrics, /skiff_jobs\{backend="bullmq"/);
    } finally {
      await api.stop();
    }
  });

  for (const backend of ['bullmq', 'in-process'] as const) {
    it(`queues releases left pending by an earlier run when the jobs start (${backend})`, async () => {
      const env = loadTestEnv();
      const dir = await mkdtemp(path.join(tmpdir(), 'skiff-resume-'));
      const database = await testStoreLocation(dir);
      const store = await openStore(database.location);
      const logger = createLogger('resume-test');
      logger.level = 'silent';
      let jobs: Jobs | null = null;
      try {
        const stamp = { actor: 'admin', at: new Date().toISOString() };
        await store.fleets.create(
          {
            name: 'resume',
            deviceType: 'raspberrypi4-64',
            deviceTypes: ['raspberrypi4-64'],
            provisioningKeyHash: 'k'.repeat(64),
            pollIntervalSeconds: 60,
            createdAt: stamp.at,
          },
          stamp,
        );
        const image = await buildTestImage(env, { repo: 'resume' });
        // As a crash between the insert and the queueing leaves it: pending, and no job anywhere.
        const release = await store.releases.create(
          {
            fleet: 'resume',
            status: 'pending',
            compose: compose(['a']),
            services: [],
            volumes: [],
            networks: [],
            images: { a: image },
            notes: null,
            createdAt: stamp.at,
          },
          stamp,
        );
        jobs = await startJobs({
          store,
          logger,
          redisUrl: backend === 'bullmq' ? env.redisUrl : null,
          redisPrefix: `resume-${path.basename(dir)}`,
        });
        assert.equal(await resumePendingVerifications(store, jobs), 1);
        const deadline = Date.now() + 20_000;
        while ((await store.releases.get(release.id))?.status === 'pending' && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
        assert.equal((await store.releases.get(release.id))?.status, 'ready');
        assert.equal(await resumePendingVerifications(store, jobs), 0);
      } finally {
        await jobs?.close();
        await store.close();
        await database.dispose();
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

async function fetchTarget(api: ApiServer, uuid: string, token: string) {
  const response = await fetch(`${api.url}${paths.target(uuid)}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200, await response.clone().text());
  return { etag: response.headers.get('etag'), json: await api.deviceTarget(uuid, token) };
}

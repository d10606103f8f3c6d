// registry-api for real: the Koa app on an ephemeral port over a real SQLite file in a temp dir, driven through
// the protocol's paths the way the supervisor and the CLI call it; and main.ts as a process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Type, type TSchema } from '@sinclair/typebox';
import {
  DeviceSummarySchema,
  FleetSchema,
  InfoSchema,
  ProblemSchema,
  ReleaseSchema,
  type Fleet,
  type Problem,
  type Release,
} from '../../protocol/api.js';
import type { DeviceAuthResponse } from '../../protocol/device-auth.js';
import { DeviceDetailSchema } from '../../protocol/device-detail.js';
import type { StateReport } from '../../protocol/state-report.js';
import { TargetStateSchema, type TargetState } from '../../protocol/target-state.js';
import { decodePublicKey, SIGNATURE_HEADER, verifyTarget } from '../../protocol/signature.js';
import { parse } from '../../protocol/validate.js';
import { paths } from '../../protocol/http/paths.js';
import { pathOf } from '../../protocol/http/route.js';
import { ROUTES } from '../../protocol/http/routes.js';
import { createLogger } from '../../lib/logger.js';
import { createApp } from '../../registry-api/http/app.js';
import type { Store } from '../../registry-api/store/index.js';
import { signingKeyOf, type SigningKey } from '../../registry-api/keys/signing-key.js';
import { openStore } from '../../registry-api/store/open.js';
import { testStoreLocation, type TestStoreLocation } from '../../harness/test-store.js';
import { distRoot, loadTestEnv, repoRoot } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { TestDevice } from '../../harness/test-device.js';
import { readAnswerBody } from '../../harness/http-answer.js';

const ADMIN_TOKEN = 'test-admin-token-0123456789';
// Real images in the environment's registry: a release becomes ready only once the API found them there.
let READER_1 = '';
let READER_2 = '';

function composeWith(port: string): string {
  return [
    'services:',
    '  meter-reader:',
    '    build: ./reader',
    '    ports:',
    `      - "${port}"`,
    '    volumes: [readings:/var/lib/readings]',
    '    devices: [/dev/ttyUSB0]',
    '    restart: always',
    'volumes:',
    '  readings:',
    '',
  ].join('\n');
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

class Api {
  constructor(readonly base: string) {}

  async call(
    method: string,
    url: string,
    options: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.raw !== undefined || options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = options.raw ?? JSON.stringify(options.body);
    }
    const response = await fetch(`${this.base}${url}`, { method, headers, body });
    const { text, json } = await readAnswerBody(response);
    return { status: response.status, headers: response.headers, text, json };
  }

  /** Calls and checks the status and the answer's shape. */
  async expect<T extends TSchema>(
    status: number,
    schema: T,
    method: string,
    url: string,
    options: Parameters<Api['call']>[2] = {},
  ) {
    const answer = await this.call(method, url, options);
    assert.equal(answer.status, status, `${method} ${url}: ${answer.text}`);
    return parse(schema, answer.json, `the answer to ${method} ${url}`);
  }

  /** Calls and checks that the answer is a problem+json with `status`. */
  async problem(
    status: number,
    method: string,
    url: string,
    options: Parameters<Api['call']>[2] = {},
  ): Promise<Problem> {
    const answer = await this.call(method, url, options);
    assert.equal(answer.status, status, `${method} ${url}: ${answer.text}`);
    assert.match(answer.headers.get('content-type') ?? '', /^application\/problem\+json/);
    const problem = parse(ProblemSchema, answer.json, 'the problem');
    assert.equal(problem.status, status);
    return problem;
  }
}

describe('registry-api over HTTP', () => {
  let dir: string;
  let store: Store;
  let database: TestStoreLocation | undefined;
  let server: Server;
  let api: Api;
  let clock = new Date('2026-01-01T12:00:00Z');
  let fleet: Fleet;
  let deviceA: DeviceAuthResponse;
  let deviceB: DeviceAuthResponse;
  let release1: Release;
  let release2: Release;
  let signingKey: SigningKey;

  const DEVICE_A = 'aaaaaaaa-0000-4000-8000-000000000001';
  const DEVICE_B = 'bbbbbbbb-0000-4000-8000-000000000002';
  const keysA = TestDevice.create(DEVICE_A, () => clock);
  const keysB = TestDevice.create(DEVICE_B, () => clock);

  before(async () => {
    const env = loadTestEnv();
    [READER_1, READER_2] = [
      await buildTestImage(env, { repo: 'reader' }),
      await buildTestImage(env, { repo: 'reader' }),
    ];
    dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-api-'));
    database = await testStoreLocation(dir);
    store = await openStore(database.location);
    const logger = createLogger('registry-api-test');
    logger.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
    signingKey = signingKeyOf(dir, null);
    const app = createApp({
      store,
      adminToken: ADMIN_TOKEN,
      registry: '127.0.0.1:5000',
      version: '9.9.9',
      signingKey,
      logger,
      now: () => clock,
    });
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    api = new Api(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });

  after(async () => {
    server?.close();
    server?.closeAllConnections();
    await store?.close();
    await database?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // The steps below build on each other in order: one fleet's life from creation to devices reporting.

  it('tells who it is without auth', async () => {
    const info = await api.expect(200, InfoSchema, 'GET', paths.info);
    assert.deepEqual(info, {
      name: 'skiff',
      version: '9.9.9',
      registry: '127.0.0.1:5000',
      signingKey: signingKey.publicKey,
    });
  });

  it("refuses people's routes without a valid API token", async () => {
    const missing = await api.call('GET', paths.fleets);
    assert.equal(missing.status, 401);
    assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer/);
    const wrong = await api.problem(401, 'GET', paths.fleets, { token: 'not-the-admin-token-at-all' });
    assert.match(wrong.detail, /not a valid API token/);
  });

  it('creates a fleet with a provisioning key, once', async () => {
    fleet = await api.expect(201, FleetSchema, 'POST', paths.fleets, {
      token: ADMIN_TOKEN,
      body: { name: 'meters', deviceType: 'raspberrypi4-64', pollIntervalSeconds: 30 },
    });
    assert.equal(fleet.name, 'meters');
    assert.deepEqual(fleet.releasePolicy, { mode: 'latest' });
    assert.ok(fleet.provisioningKey.length >= 32);
    const again = await api.problem(409, 'POST', paths.fleets, {
      token: ADMIN_TOKEN,
      body: { name: 'meters', deviceType: 'generic-amd64' },
    });
    assert.match(again.detail, /fleet 'meters' already exists/);
    // Only the creation answer carries the key: the API keeps its hash.
    const stored = { ...fleet, provisioningKey: '' };
    // One fleet's page adds its data use this month (none yet); the list does not.
    const { dataUse, ...shown } = await api.expect(200, FleetSchema, 'GET', paths.fleet('meters'), {
      token: ADMIN_TOKEN,
    });
    assert.deepEqual(shown, stored);
    assert.deepEqual([dataUse?.devices, dataUse?.sent, dataUse?.received], [0, 0, 0]);
    assert.deepEqual(await api.expect(200, Type.Array(FleetSchema), 'GET', paths.fleets, { token: ADMIN_TOKEN }), [
      stored,
    ]);
    await api.problem(404, 'GET', paths.fleet('nope'), { token: ADMIN_TOKEN });
  });

  it('validates request bodies against the protocol', async () => {
    const problem = await api.problem(400, 'POST', paths.fleets, {
      token: ADMIN_TOKEN,
      body: { name: 'Bad Name!', deviceType: 'x', extra: 1 },
    });
    assert.ok(
      problem.errors?.some((e) => e.path === '/name'),
      JSON.stringify(problem.errors),
    );
    assert.ok(
      problem.errors?.some((e) => /extra/.test(e.message)),
      JSON.stringify(problem.errors),
    );
  });

  it('admits devices that sign with their own key and bring the provisioning key', async () => {
    const join = { fleet: 'meters', provisioningKey: fleet.provisioningKey };
    deviceA = await keysA.token(api.base, { ...join, name: 'kitchen' });
    deviceB = await keysB.token(api.base, join);
    assert.deepEqual(
      { ...deviceA, token: '', expiresAt: '', shortId: '' },
      {
        uuid: DEVICE_A,
        name: 'kitchen',
        fleet: 'meters',
        token: '',
        expiresAt: '',
        shortId: '',
        signingKey: signingKey.publicKey,
      },
    );
    assert.match(deviceA.token, /^[A-Za-z0-9_-]{43}$/);
    assert.match(deviceA.shortId, /^[0-9A-HJKMNP-TV-Z]{8}$/);
    assert.ok(Date.parse(deviceA.expiresAt) > clock.getTime() + 6 * 24 * 3600 * 1000, 'a token lasts about a week');
    assert.notEqual(deviceA.token, deviceB.token);
    const stranger = TestDevice.create('cccccccc-1', () => clock);
    assert.equal(
      (await stranger.auth(api.base, { fleet: 'meters', provisioningKey: 'wrong-provisioning-key-xxxx' })).status,
      401,
    );
    assert.equal(
      (await stranger.auth(api.base, { fleet: 'elsewhere', provisioningKey: fleet.provisioningKey })).status,
      404,
    );
  });

  it('never hands a known uuid to another key, provisioning key or not', async () => {
    const impostor = TestDevice.create(DEVICE_A, () => clock);
    const taken = await impostor.auth(api.base, {
      fleet: 'meters',
      provisioningKey: fleet.provisioningKey,
      name: 'evil',
    });
    assert.equal(taken.status, 409, taken.text);
    assert.match(taken.text, /another public key/);
    const again = await keysA.token(api.base, { fleet: 'meters', provisioningKey: fleet.provisioningKey });
    assert.equal(again.name, 'kitchen', 'the name is kept');
    assert.notEqual(again.token, deviceA.token);
    // Both of its own tokens work: a new auth does not log out a request in flight.
    await api.expect(200, TargetStateSchema, 'GET', paths.target(DEVICE_A), { token: deviceA.token });
    await api.expect(200, TargetStateSchema, 'GET', paths.target(DEVICE_A), { token: again.token });
    deviceA = again;
  });

  it('gives an empty target before the first release', async () => {
    const target = await api.expect(200, TargetStateSchema, 'GET', paths.target(DEVICE_A), { token: deviceA.token });
    assert.equal(target.release, null);
    assert.deepEqual(target.services, []);
    assert.deepEqual(target.device, { uuid: DEVICE_A, name: 'kitchen' });
    assert.equal(target.config.pollIntervalSeconds, 30);
    const answer = await api.call('GET', paths.target(DEVICE_A), { token: deviceA.token });
    verifyTarget(decodePublicKey(deviceA.signingKey), answer.json, answer.headers.get(SIGNATURE_HEADER));
  });

  it('refuses an invalid compose file, naming the field', async () => {
    const answer = await api.call('POST', paths.releases('meters'), {
      token: ADMIN_TOKEN,
      body: { compose: composeWith('80:http'), images: { 'meter-reader': READER_1 } },
    });
    assert.equal(answer.status, 400);
    assert.match(answer.headers.get('content-type') ?? '', /^application\/problem\+json/);
    const problem = parse(ProblemSchema, answer.json, 'the problem');
    assert.match(problem.detail, /services\.meter-reader\.ports\[0\]/);
    assert.deepEqual(
      problem.errors?.map((e) => e.path),
      ['services.meter-reader.ports[0]'],
    );
    assert.match(problem.errors?.[0]?.message ?? '', /container port 'http' is not a port/);
    const unsupported = await api.problem(400, 'POST', paths.releases('meters'), {
      token: ADMIN_TOKEN,
      body: {
        compose: `${composeWith('80')}secrets:\n  token:\n    external: true\n`,
        images: { 'meter-reader': READER_1 },
      },
    });
    assert.match(unsupported.detail, /names a swarm config or secret already on the engine; devices run no swarm/);
  });

  it('creates releases with auto-incremented versions, newest first', async () => {
    // The releases pass the meter's serial port through (devices:): this fleet lets them run without an approval.
    await api.expect(200, FleetSchema, 'PATCH', pathOf(ROUTES.setFleetReview, { fleet: 'meters' }), {
      token: ADMIN_TOKEN,
      body: { approval: 'never' },
    });
    const create = (image: string, extra: object = {}) => ({
      token: ADMIN_TOKEN,
      body: { compose: composeWith('8080:80'), images: { 'meter-reader': image }, ...extra },
    });
    release1 = await api.expect(
      201,
      ReleaseSchema,
      'POST',
      paths.releases('meters'),
      create(READER_1, { notes: 'first' }),
    );
    release2 = await api.expect(201, ReleaseSchema, 'POST', paths.releases('meters'), create(READER_2));
    assert.deepEqual([release1.version, release2.version], ['1', '2']);
    assert.equal(release1.status, 'pending', 'ready only once its images are verified');
    for (const release of [release1, release2]) {
      let seen = release;
      for (let i = 0; i < 200 && seen.status === 'pending'; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        seen = await api.expect(200, ReleaseSchema, 'GET', paths.release('meters', release.version), {
          token: ADMIN_TOKEN,
        });
      }
      assert.equal(seen.status, 'ready', `release ${release.version}: ${JSON.stringify(seen.verification)}`);
    }
    assert.deepEqual(release1.services, ['meter-reader']);
    assert.deepEqual(release1.images, { 'meter-reader': READER_1 });
    assert.equal(release1.notes, 'first');
    const taken = await api.problem(409, 'POST', paths.releases('meters'), create(READER_2, { version: '2' }));
    assert.match(taken.detail, /version '2'/);
    const listed = await api.expect(200, Type.Array(ReleaseSchema), 'GET', paths.releases('meters'), {
      token: ADMIN_TOKEN,
    });
    assert.deepEqual(
      listed.map((r) => r.id),
      [release2.id, release1.id],
    );
  });

  let etagLatest: string;

  it('serves the latest release as target with an ETag, and 304 when unchanged', async () => {
    const first = await api.call('GET', paths.target(DEVICE_A), { token: deviceA.token });
    assert.equal(first.status, 200);
    const target: TargetState = parse(TargetStateSchema, first.json, 'the target');
    assert.deepEqual(target.release, { id: release2.id, version: '2' });
    assert.equal(target.services[0]?.image, READER_2);
    assert.deepEqual(target.services[0]?.ports, [{ target: 80, published: 8080, protocol: 'tcp' }]);
    assert.deepEqual(target.volumes, ['readings']);
    etagLatest = first.headers.get('etag') ?? '';
    assert.match(etagLatest, /^"[a-f0-9]{64}"$/);

    const again = await api.call('GET', paths.target(DEVICE_A), {
      token: deviceA.token,
      headers: { 'if-none-match': etagLatest },
    });
    assert.equal(again.status, 304);
    assert.equal(again.text, '');
    assert.equal(again.headers.get('etag'), etagLatest);
  });

  it('moves the target when the fleet is pinned, and back on track-latest', async () => {
    const unknown = await api.problem(404, 'POST', paths.pin('meters'), {
      token: ADMIN_TOKEN,
      body: { release: '17' },
    });
    assert.match(unknown.detail, /'17'/);

    const pinned = await api.expect(200, FleetSchema, 'POST', paths.pin('meters'), {
      token: ADMIN_TOKEN,
      body: { release: '1' },
    });
    assert.deepEqual(pinned.releasePolicy, { mode: 'pinned', releaseId: release1.id });
    const onPin = await api.call('GET', paths.target(DEVICE_A), {
      token: deviceA.token,
      headers: { 'if-none-match': etagLatest },
    });
    assert.equal(onPin.status, 200);
    assert.deepEqual(parse(TargetStateSchema, onPin.json, 'the target').release, { id: release1.id, version: '1' });
    assert.notEqual(onPin.headers.get('etag'), etagLatest);

    // Pinning by id works the same as by version.
    await api.expect(200, FleetSchema, 'POST', paths.pin('meters'), {
      token: ADMIN_TOKEN,
      body: { release: release1.id },
    });

    const tracking = await api.expect(200, FleetSchema, 'POST', paths.trackLatest('meters'), {
      token: ADMIN_TOKEN,
      body: {},
    });
    assert.deepEqual(tracking.releasePolicy, { mode: 'latest' });
    const back = await api.call('GET', paths.target(DEVICE_A), {
      token: deviceA.token,
      headers: { 'if-none-match': etagLatest },
    });
    // The same content as before the pin, but issued anew: a device that took the pinned target's version must not
    // be handed the older, lower version again (it would refuse it as a replay).
    assert.equal(back.status, 200);
    const backTarget = parse(TargetStateSchema, back.json, 'the target');
    assert.deepEqual(backTarget.release, { id: release2.id, version: '2' });
    const pinnedVersion = parse(TargetStateSchema, onPin.json, 'the target').issued?.version ?? 0;
    assert.ok((backTarget.issued?.version ?? 0) > pinnedVersion, 'the version only goes up');
    const again = await api.call('GET', paths.target(DEVICE_A), {
      token: deviceA.token,
      headers: { 'if-none-match': back.headers.get('etag') ?? '' },
    });
    assert.equal(again.status, 304, 'the same issued target gives the same ETag');
  });

  it("keeps a device's key to its own device", async () => {
    const other = await api.problem(403, 'GET', paths.target(DEVICE_B), { token: deviceA.token });
    assert.match(other.detail, new RegExp(DEVICE_A));
    await api.problem(403, 'PATCH', paths.state(DEVICE_B), { token: deviceA.token, body: {} });
    await api.problem(401, 'GET', paths.target(DEVICE_A), { token: 'a-key-nobody-was-ever-given' });
    await api.problem(401, 'GET', paths.target(DEVICE_A));
    await api.problem(401, 'GET', paths.target(DEVICE_A), { token: ADMIN_TOKEN });
  });

  it('stores a state report and shows it on the device', async () => {
    const report: StateReport = {
      supervisorVersion: '0.1.0',
      updateStatus: 'converged',
      targetReleaseId: release2.id,
      releaseId: release2.id,
      services: [
        {
          name: 'meter-reader',
          releaseId: release2.id,
          image: READER_2,
          containerId: 'c0ffee',
          state: 'running',
          health: null,
          exitCode: null,
        },
      ],
      error: null,
      reportedAt: '2026-01-01T12:00:05.000Z',
    };
    const answer = await api.call('PATCH', paths.state(DEVICE_A), { token: deviceA.token, body: report });
    assert.equal(answer.status, 204, answer.text);

    const bad = await api.problem(400, 'PATCH', paths.state(DEVICE_A), {
      token: deviceA.token,
      body: { ...report, updateStatus: 'bored' },
    });
    assert.ok(
      bad.errors?.some((e) => e.path === '/updateStatus'),
      JSON.stringify(bad.errors),
    );

    const detail = await api.expect(200, DeviceDetailSchema, 'GET', paths.device(DEVICE_A), { token: ADMIN_TOKEN });
    assert.deepEqual(detail.lastReport, report);
    assert.equal(detail.online, true);
    assert.equal(detail.targetRelease, '2');
    assert.equal(detail.runningRelease, '2');
    assert.equal(detail.updateStatus, 'converged');
    assert.equal(detail.lastSeen, clock.toISOString());
    await api.problem(404, 'GET', paths.device('cccccccc-none'), { token: ADMIN_TOKEN });

    // Pinned to another release, the device's last report speaks of the old target: not "converged" any more, but
    // pending until the device reports on the new one.
    const pinned = await api.expect(200, DeviceDetailSchema, 'POST', paths.devicePin(DEVICE_A), {
      token: ADMIN_TOKEN,
      body: { release: '1' },
    });
    assert.deepEqual([pinned.targetRelease, pinned.runningRelease, pinned.updateStatus], ['1', '2', 'pending']);
    const back = await api.expect(200, DeviceDetailSchema, 'POST', paths.deviceTrackFleet(DEVICE_A), {
      token: ADMIN_TOKEN,
      body: {},
    });
    assert.deepEqual([back.targetRelease, back.updateStatus], ['2', 'converged']);
  });

  it('lists devices per fleet, and shows them offline after three missed polls', async () => {
    const listed = await api.expect(200, Type.Array(DeviceSummarySchema), 'GET', `${paths.devices}?fleet=meters`, {
      token: ADMIN_TOKEN,
    });
    // Sorted by name: B is named after its uuid ("bbbbbbbb-..."), A is "kitchen". B has only authenticated, which
    // is contact too: it is online without a report.
    assert.deepEqual(
      listed.map((d) => [d.name, d.online, d.runningRelease, d.targetRelease]),
      [
        [DEVICE_B, true, null, '2'],
        ['kitchen', true, '2', '2'],
      ],
    );
    await api.problem(404, 'GET', `${paths.devices}?fleet=nope`, { token: ADMIN_TOKEN });

    clock = new Date(clock.getTime() + (3 * 30 + 31) * 1000);
    const later = await api.expect(200, Type.Array(DeviceSummarySchema), 'GET', paths.devices, { token: ADMIN_TOKEN });
    assert.equal(later.find((d) => d.uuid === DEVICE_A)?.online, false);
  });

  it('answers malformed JSON, unknown routes and wrong methods with problems', async () => {
    const malformed = await api.problem(400, 'POST', paths.fleets, { token: ADMIN_TOKEN, raw: '{"name": "x",' });
    assert.match(malformed.detail, /not valid JSON/);
    assert.match(malformed.type, /malformed-json/);
    await api.problem(415, 'POST', paths.fleets, {
      token: ADMIN_TOKEN,
      raw: 'name=x',
      headers: { 'content-type': 'text/plain' },
    });
    const unknown = await api.problem(404, 'GET', '/v1/nothing-here');
    assert.match(unknown.detail, /GET \/v1\/nothing-here/);
    await api.problem(405, 'DELETE', paths.info);
  });

  it('keeps everything across a reopen of the database', async () => {
    assert.ok(database);
    const reopened = await openStore(database.location);
    try {
      assert.deepEqual(
        (await reopened.fleets.list()).map((f) => f.name),
        ['meters'],
      );
      assert.equal((await reopened.releases.latestReady('meters'))?.id, release2.id);
      assert.equal((await reopened.devices.get(DEVICE_A))?.lastReport?.releaseId, release2.id);
    } finally {
      await reopened.close();
    }
  });
});

describe('registry-api process', function () {
  this.timeout(30_000);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-api-main-'));
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Starts main.js, waits for its "listening" line, returns the URL and a stop() that sends SIGTERM. */
  async function start(env: Record<string, string>) {
    const child = spawn(process.execPath, [path.join(distRoot, 'registry-api', 'main.js')], {
      env: { ...process.env, SKIFF_LOG_LEVEL: 'info', SKIFF_API_PORT: '0', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const lines: string[] = [];
    const url = await new Promise<string>((resolve, reject) => {
      const reader = createInterface({ input: child.stderr });
      reader.on('line', (line) => {
        lines.push(line);
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'listening' && entry.url) resolve(entry.url);
      });
      child.once('exit', (code) => reject(new Error(`registry-api exited with ${String(code)}: ${lines.join('\n')}`)));
    });
    return {
      url,
      lines,
      async stop(): Promise<number | null> {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const [code] = (await exited) as [number | null];
        return code;
      },
    };
  }

  it('generates an admin token and a signing key once, keeps them private, reuses them, and stops cleanly on SIGTERM', async () => {
    const first = await start({ SKIFF_DATA_DIR: dir, SKIFF_REGISTRY: '127.0.0.1:5999' });
    const tokenFile = path.join(dir, 'admin-token');
    const token = (await readFile(tokenFile, 'utf8')).trim();
    assert.equal((await stat(tokenFile)).mode & 0o777, 0o600);
    const info = await fetch(`${first.url}${paths.info}`).then((r) => r.json());
    const keyFile = path.join(dir, 'signing-key.pem');
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    const { signingKey } = info as { signingKey: string };
    decodePublicKey(signingKey);
    assert.deepEqual(info, {
      name: 'skiff',
      version: JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')).version,
      registry: '127.0.0.1:5999',
      signingKey,
    });
    const created = await fetch(`${first.url}${paths.fleets}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'restart-test', deviceType: 'generic-amd64' }),
    });
    assert.equal(created.status, 201);
    assert.equal(await first.stop(), 0);

    const second = await start({ SKIFF_DATA_DIR: dir });
    assert.equal((await readFile(tokenFile, 'utf8')).trim(), token, 'the token file is reused');
    const fleets = await fetch(`${second.url}${paths.fleets}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(fleets.status, 200);
    assert.deepEqual(
      ((await fleets.json()) as Fleet[]).map((f) => f.name),
      ['restart-test'],
    );
    const again = (await fetch(`${second.url}${paths.info}`).then((r) => r.json())) as { signingKey: string };
    assert.equal(again.signingKey, signingKey, 'the signing key is reused');
    assert.equal(await second.stop(), 0);
    assert.ok(second.lines.some((l) => /"msg":"stopped"/.test(l)));
  });

  it('refuses to start without a data dir, saying which variable is missing', async () => {
    const child = spawn(process.execPath, [path.join(distRoot, 'registry-api', 'main.js')], {
      env: { ...process.env, SKIFF_DATA_DIR: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 1);
    assert.match(stderr, /SKIFF_DATA_DIR must be set/);
  });
});

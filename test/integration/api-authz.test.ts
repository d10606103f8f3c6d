// Who may do what, for real: the registry-api app over a SQLite file, users of every role with their own API
// tokens, and every endpoint class called by every role. The expected matrix is written out here, from the issue,
// not derived from protocol/access-policy.ts, so a wrong role table fails this test. Then devices against each other,
// revocation, per-device pins and the audit trail those changes leave.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Type, type TSchema } from '@sinclair/typebox';
import {
  ApiTokenSchema,
  AuditEntrySchema,
  NewApiTokenSchema,
  UserSchema,
  type AuditEntry,
  type Role,
} from '../../protocol/access.js';
import { FleetSchema, ProblemSchema, ReleaseSchema, type Fleet } from '../../protocol/api.js';
import { signDeviceRequest, type DeviceAuthResponse } from '../../protocol/device-auth.js';
import { DeviceDetailSchema } from '../../protocol/device-detail.js';
import { DeviceLogsSchema } from '../../protocol/device-logs.js';
import type { StateReport } from '../../protocol/state-report.js';
import { TargetStateSchema } from '../../protocol/target-state.js';
import { parse } from '../../protocol/validate.js';
import { deviceLogPaths, paths } from '../../protocol/http/paths.js';
import { createLogger } from '../../lib/logger.js';
import { createApp } from '../../registry-api/http/app.js';
import { signingKeyOf } from '../../registry-api/keys/signing-key.js';
import type { Store } from '../../registry-api/store/index.js';
import { MIGRATIONS } from '../../registry-api/store/migrations.js';
import { migrate } from '../../registry-api/store/sql/migrate.js';
import { openDatabase } from '../../registry-api/store/sql/open.js';
import { openStore } from '../../registry-api/store/open.js';
import { testStoreLocation, type TestStoreLocation } from '../../harness/test-store.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { TestDevice } from '../../harness/test-device.js';
import { readAnswerBody } from '../../harness/http-answer.js';
import { LogResponder } from '../../harness/log-responder.js';

const BOOTSTRAP_TOKEN = 'authz-bootstrap-admin-token-0123456789';
/** A real image in the environment's registry: a release becomes ready only once its digests are verified there. */
let IMAGE = '';
const COMPOSE = 'services:\n  reader:\n    build: ./reader\n';

const DEVICE_A = 'aaaaaaaa-0000-4000-8000-00000000000a';
const DEVICE_B = 'bbbbbbbb-0000-4000-8000-00000000000b';
/** The device the matrix's device-management probes act on, so A and B stay as the later tests expect them. */
const DEVICE_C = 'cccccccc-0000-4000-8000-00000000000c';

interface Answer {
  status: number;
  contentType: string;
  wwwAuthenticate: string | null;
  text: string;
  json: unknown;
}

interface Request {
  token?: string;
  body?: unknown;
}

class Api {
  constructor(readonly base: string) {}

  async call(method: string, url: string, request: Request = {}): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (request.token !== undefined) headers.authorization = `Bearer ${request.token}`;
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.base}${url}`, {
      method,
      headers,
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
    });
    const { text, json } = await readAnswerBody(response);
    return {
      status: response.status,
      contentType: response.headers.get('content-type') ?? '',
      wwwAuthenticate: response.headers.get('www-authenticate'),
      text,
      json,
    };
  }

  async expect<T extends TSchema>(status: number, schema: T, method: string, url: string, request: Request = {}) {
    const answer = await this.call(method, url, request);
    assert.equal(answer.status, status, `${method} ${url}: ${answer.text}`);
    return parse(schema, answer.json, `the answer to ${method} ${url}`);
  }

  async problem(status: number, method: string, url: string, request: Request = {}) {
    const answer = await this.call(method, url, request);
    assert.equal(answer.status, status, `${method} ${url}: ${answer.text}`);
    assert.match(answer.contentType, /^application\/problem\+json/, `${method} ${url}`);
    const problem = parse(ProblemSchema, answer.json, `the problem from ${method} ${url}`);
    assert.equal(problem.status, status);
    if (status === 401) assert.match(answer.wwwAuthenticate ?? '', /^Bearer/);
    return problem;
  }
}

/** One user per role; the admin is a created one, not the bootstrap user. */
const USERS: Readonly<Record<Role, string>> = { viewer: 'vera', developer: 'dev', operator: 'otto', admin: 'adele' };
const ALL_ROLES = Object.keys(USERS) as Role[];

interface Probe {
  method: string;
  url: string;
  body?: unknown;
  /** The status an allowed caller gets. */
  ok: number;
}

interface EndpointClass {
  name: string;
  /** The roles allowed, as the issue states them. */
  allowed: readonly Role[];
  probes(role: Role): Probe[];
}

describe('registry-api authorization', () => {
  let dir: string;
  let store: Store;
  let database: TestStoreLocation | undefined;
  let server: Server;
  let api: Api;
  let fleet: Fleet;
  const tokens = {} as Record<Role, string>;
  let victimTokenId: string;
  let deviceA: DeviceAuthResponse;
  let deviceB: DeviceAuthResponse;
  /** Device A's push channel, answering log requests: the logs probes get the device's (empty) answer. */
  let responderA: LogResponder | undefined;
  const keys = { a: TestDevice.create(DEVICE_A), b: TestDevice.create(DEVICE_B), c: TestDevice.create(DEVICE_C) };
  const logger = createLogger('registry-api-authz-test');
  logger.level = process.env.SKIFF_LOG_LEVEL ?? 'silent';

  async function start(adminToken: string): Promise<Server> {
    const app = createApp({
      store,
      adminToken,
      registry: null,
      version: '0.0.0-test',
      signingKey: signingKeyOf(dir, null),
      logger,
    });
    const listening = app.listen(0, '127.0.0.1');
    await once(listening, 'listening');
    return listening;
  }

  const join = (device: TestDevice) =>
    device.auth(api.base, { fleet: fleet.name, provisioningKey: fleet.provisioningKey });

  async function newestAuditId(): Promise<number> {
    return (await store.audit.list({ limit: 1 }))[0]?.id ?? 0;
  }

  async function auditSince(id: number): Promise<AuditEntry[]> {
    return (await store.audit.list({ limit: 1000 })).filter((e) => e.id > id);
  }

  /** Until the verification job has found the release's images in the registry. */
  async function waitReady(fleetName: string, version: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const release = await api.expect(200, ReleaseSchema, 'GET', paths.release(fleetName, version), {
        token: BOOTSTRAP_TOKEN,
      });
      if (release.status === 'ready') return;
      assert.notEqual(
        release.status,
        'failed',
        `release ${version} of ${fleetName} failed verification: ${JSON.stringify(release)}`,
      );
      assert.ok(Date.now() < deadline, `release ${version} of ${fleetName} still ${release.status} after 60 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  before(async () => {
    IMAGE = await buildTestImage(loadTestEnv(), { repo: 'authz-reader' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-authz-'));
    database = await testStoreLocation(dir);
    store = await openStore(database.location);
    server = await start(BOOTSTRAP_TOKEN);
    api = new Api(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);

    const admin = { token: BOOTSTRAP_TOKEN };
    for (const role of ALL_ROLES) {
      await api.expect(201, UserSchema, 'POST', paths.users, { ...admin, body: { name: USERS[role], role } });
      tokens[role] = (
        await api.expect(201, NewApiTokenSchema, 'POST', paths.userTokens(USERS[role]), {
          ...admin,
          body: { label: 'matrix' },
        })
      ).token;
    }
    await api.expect(201, UserSchema, 'POST', paths.users, { ...admin, body: { name: 'victim', role: 'viewer' } });
    victimTokenId = (
      await api.expect(201, NewApiTokenSchema, 'POST', paths.userTokens('victim'), { ...admin, body: {} })
    ).id;

    fleet = await api.expect(201, FleetSchema, 'POST', paths.fleets, {
      ...admin,
      body: { name: 'meters', deviceType: 'raspberrypi4-64' },
    });
    await api.expect(201, FleetSchema, 'POST', paths.fleets, {
      ...admin,
      body: { name: 'other', deviceType: 'raspberrypi4-64' },
    });
    for (const version of ['1', '2']) {
      await api.expect(201, ReleaseSchema, 'POST', paths.releases('meters'), {
        ...admin,
        body: { compose: COMPOSE, images: { reader: IMAGE }, version },
      });
    }
    await api.expect(201, ReleaseSchema, 'POST', paths.releases('other'), {
      ...admin,
      body: { compose: COMPOSE, images: { reader: IMAGE }, version: 'elsewhere' },
    });
    for (const [fleetName, version] of [
      ['meters', '1'],
      ['meters', '2'],
      ['other', 'elsewhere'],
    ] as const)
      await waitReady(fleetName, version);
    deviceA = await keys.a.token(api.base, { fleet: fleet.name, provisioningKey: fleet.provisioningKey });
    deviceB = await keys.b.token(api.base, { fleet: fleet.name, provisioningKey: fleet.provisioningKey });
    assert.equal((await join(keys.c)).status, 200);
    responderA = await LogResponder.open(api.base, DEVICE_A, deviceA.token);
  });

  after(async () => {
    await responderA?.close();
    server?.close();
    server?.closeAllConnections();
    await store?.close();
    await database?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const CLASSES: EndpointClass[] = [
    {
      name: 'read fleets, releases, devices and oneself',
      allowed: ['viewer', 'developer', 'operator', 'admin'],
      probes: () => [
        { method: 'GET', url: paths.fleets, ok: 200 },
        { method: 'GET', url: paths.fleet('meters'), ok: 200 },
        { method: 'GET', url: paths.releases('meters'), ok: 200 },
        { method: 'GET', url: paths.devices, ok: 200 },
        { method: 'GET', url: `${paths.devices}?fleet=meters`, ok: 200 },
        { method: 'GET', url: paths.device(DEVICE_A), ok: 200 },
        { method: 'GET', url: paths.me, ok: 200 },
      ],
    },
    {
      name: 'create a fleet',
      allowed: ['admin'],
      probes: (role) => [
        { method: 'POST', url: paths.fleets, body: { name: `fleet-of-${role}`, deviceType: 'generic-amd64' }, ok: 201 },
      ],
    },
    {
      name: 'push a release',
      allowed: ['developer', 'admin'],
      probes: (role) => [
        {
          method: 'POST',
          url: paths.releases('meters'),
          body: { compose: COMPOSE, images: { reader: IMAGE }, version: `by-${role}` },
          ok: 201,
        },
      ],
    },
    {
      name: 'roll out: pin a fleet, track latest',
      allowed: ['operator', 'admin'],
      probes: () => [
        { method: 'POST', url: paths.pin('meters'), body: { release: '1' }, ok: 200 },
        { method: 'POST', url: paths.trackLatest('meters'), body: {}, ok: 200 },
      ],
    },
    {
      name: 'manage a device: pin, track-fleet, rename, revoke, accept',
      allowed: ['operator', 'admin'],
      probes: (role) => [
        { method: 'POST', url: paths.devicePin(DEVICE_C), body: { release: '1' }, ok: 200 },
        { method: 'POST', url: paths.deviceTrackFleet(DEVICE_C), body: {}, ok: 200 },
        { method: 'PATCH', url: paths.device(DEVICE_C), body: { note: `checked by ${role}`, tags: [role] }, ok: 200 },
        { method: 'POST', url: paths.deviceRevoke(DEVICE_C), body: {}, ok: 200 },
        { method: 'POST', url: paths.deviceAccept(DEVICE_C), body: {}, ok: 200 },
      ],
    },
    {
      name: 'admit devices: pre-authorize a key, reject, accept',
      allowed: ['operator', 'admin'],
      probes: (role) => {
        const uuid = `eeeeeeee-0000-4000-8000-${Buffer.from(role).toString('hex').slice(0, 12).padStart(12, '0')}`;
        return [
          {
            method: 'POST',
            url: paths.devices,
            body: { fleet: 'meters', publicKey: TestDevice.create(uuid).publicKey, uuid },
            ok: 201,
          },
          { method: 'POST', url: paths.deviceReject(uuid), body: {}, ok: 200 },
          { method: 'POST', url: paths.deviceAccept(uuid), body: {}, ok: 200 },
        ];
      },
    },
    {
      name: 'read the audit log',
      allowed: ['operator', 'admin'],
      probes: () => [
        { method: 'GET', url: paths.audit, ok: 200 },
        { method: 'GET', url: `${paths.audit}?fleet=meters&limit=5`, ok: 200 },
      ],
    },
    {
      name: "read a device's logs",
      allowed: ['developer', 'operator', 'admin'],
      probes: () => [{ method: 'GET', url: `${deviceLogPaths.logs(DEVICE_A)}?tail=1`, ok: 200 }],
    },
    {
      name: 'manage users',
      allowed: ['admin'],
      probes: (role) => [
        { method: 'GET', url: paths.users, ok: 200 },
        { method: 'POST', url: paths.users, body: { name: `made-by-${role}`, role: 'admin' }, ok: 201 },
      ],
    },
    {
      name: "manage another user's tokens",
      allowed: ['admin'],
      probes: () => [
        { method: 'GET', url: paths.userTokens('victim'), ok: 200 },
        { method: 'POST', url: paths.userTokens('victim'), body: { label: 'stolen?' }, ok: 201 },
        { method: 'DELETE', url: paths.userToken('victim', victimTokenId), ok: 200 },
      ],
    },
    {
      name: "manage one's own tokens",
      allowed: ['viewer', 'developer', 'operator', 'admin'],
      probes: (role) => [
        { method: 'GET', url: paths.userTokens(USERS[role]), ok: 200 },
        { method: 'POST', url: paths.userTokens(USERS[role]), body: { label: 'second' }, ok: 201 },
      ],
    },
  ];

  describe('every role against every endpoint class', () => {
    for (const endpoint of CLASSES) {
      for (const role of ALL_ROLES) {
        const allowed = endpoint.allowed.includes(role);
        it(`${endpoint.name}: ${role} is ${allowed ? 'allowed' : 'denied'}`, async () => {
          const since = await newestAuditId();
          let writes = 0;
          for (const probe of endpoint.probes(role)) {
            const request = { token: tokens[role], ...(probe.body === undefined ? {} : { body: probe.body }) };
            if (allowed) {
              const answer = await api.call(probe.method, probe.url, request);
              assert.equal(answer.status, probe.ok, `${role}: ${probe.method} ${probe.url}: ${answer.text}`);
              if (probe.method !== 'GET') writes += 1;
            } else {
              const problem = await api.problem(403, probe.method, probe.url, request);
              assert.match(problem.detail, /needs the role/);
              assert.match(problem.detail, new RegExp(`is ${role}$`));
            }
          }
          // A pushed release is verified in the background and settled as 'system': wait for that, and leave its
          // entry out, so this request's entries are all that is compared and none spills into the next test.
          for (const deadline = Date.now() + 30_000; (await store.releases.pending()).length > 0; ) {
            assert.ok(Date.now() < deadline, 'a pushed release is still pending verification after 30 s');
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          const entries = (await auditSince(since)).filter((e) => e.actor !== 'system');
          if (!allowed || writes === 0) {
            assert.deepEqual(entries, [], 'a refused request or a read leaves no audit entry');
          } else {
            assert.ok(entries.length > 0, 'changes are audited');
            assert.deepEqual([...new Set(entries.map((e) => e.actor))], [USERS[role]], 'with who made them');
          }
        });
      }

      it(`${endpoint.name}: no token, an unknown token or a device key is 401`, async () => {
        for (const probe of endpoint.probes('viewer')) {
          const body = probe.body === undefined ? {} : { body: probe.body };
          await api.problem(401, probe.method, probe.url, body);
          await api.problem(401, probe.method, probe.url, { ...body, token: 'no-such-token-0123456789abcdef' });
          await api.problem(401, probe.method, probe.url, { ...body, token: deviceA.token });
        }
      });
    }

    it('shows a provisioning key to no role once the fleet exists: keys are kept hashed', async () => {
      assert.ok(fleet.provisioningKey.length >= 32, 'the creation answer carries the first key');
      for (const role of ALL_ROLES) {
        const seen = await api.expect(200, FleetSchema, 'GET', paths.fleet('meters'), { token: tokens[role] });
        const listed = await api.expect(200, Type.Array(FleetSchema), 'GET', paths.fleets, { token: tokens[role] });
        assert.equal(seen.provisioningKey, '', role);
        assert.ok(listed.length >= 2);
        for (const f of listed) assert.equal(f.provisioningKey, '', `${role} on fleet ${f.name}`);
      }
    });
  });

  describe('a database from before users existed', () => {
    it('migrates, keeps its devices, and lets its admin token in as the first admin', async () => {
      const v1 = await testStoreLocation(dir, 'v1.db');
      const old = await openDatabase(v1.location);
      await migrate(
        old,
        MIGRATIONS.filter((m) => m.version === 1),
      );
      await old.run(
        `INSERT INTO fleets VALUES ('legacy', 'rpi4', 'legacy-provisioning-key-0123', 'latest', NULL, 60, '2025-01-01T00:00:00Z')`,
      );
      await old.run(
        `INSERT INTO devices VALUES ('dddddddd-0000-4000-8000-00000000000d', 'old', 'legacy', 'rpi4', ?, NULL, '2025-01-01T00:00:00Z', NULL)`,
        ['f'.repeat(64)],
      );
      await old.close();

      const upgraded = await openStore(v1.location);
      const legacyToken = 'legacy-admin-token-from-the-admin-token-file';
      const app = createApp({
        store: upgraded,
        adminToken: legacyToken,
        registry: null,
        version: '0.0.0-test',
        signingKey: signingKeyOf(dir, null),
        logger,
      });
      const legacy = app.listen(0, '127.0.0.1');
      await once(legacy, 'listening');
      try {
        const legacyApi = new Api(`http://127.0.0.1:${(legacy.address() as AddressInfo).port}`);
        const device = await legacyApi.expect(
          200,
          DeviceDetailSchema,
          'GET',
          paths.device('dddddddd-0000-4000-8000-00000000000d'),
          { token: legacyToken },
        );
        assert.deepEqual([device.name, device.revokedAt, device.tags, device.pinnedRelease], ['old', null, [], null]);
        assert.deepEqual(
          await legacyApi
            .expect(200, Type.Array(UserSchema), 'GET', paths.users, { token: legacyToken })
            .then((u) => u.map((x) => [x.name, x.role])),
          [['admin', 'admin']],
        );
      } finally {
        legacy.close();
        legacy.closeAllConnections();
        await upgraded.close();
        await v1.dispose();
      }
    });
  });

  describe('devices', () => {
    const report = (releaseId: string | null): StateReport => ({
      supervisorVersion: '0.1.0',
      updateStatus: 'converged',
      targetReleaseId: releaseId,
      releaseId,
      services: [],
      error: null,
      reportedAt: '2026-01-01T12:00:00.000Z',
    });

    it("keeps device A's key away from device B's target and state", async () => {
      const target = await api.problem(403, 'GET', paths.target(DEVICE_B), { token: deviceA.token });
      assert.match(target.detail, new RegExp(`${DEVICE_A}.*${DEVICE_B}`));
      await api.problem(403, 'PATCH', paths.state(DEVICE_B), { token: deviceA.token, body: report(null) });
      assert.equal((await store.devices.get(DEVICE_B))?.lastReport, null, "B's state is untouched");
      await api.problem(401, 'GET', paths.target(DEVICE_B), { token: `${deviceA.token}x` });
      await api.problem(401, 'GET', paths.target(DEVICE_A), { token: tokens.admin });
      await api.problem(401, 'PATCH', paths.state(DEVICE_A), { token: BOOTSTRAP_TOKEN, body: report(null) });
      // Its own routes still open.
      await api.expect(200, TargetStateSchema, 'GET', paths.target(DEVICE_A), { token: deviceA.token });
    });

    it("keeps device A's key away from device B's logs, and refuses a malformed batch naming the field", async () => {
      const batch = {
        lines: [
          {
            service: 'reader',
            containerId: 'a'.repeat(64),
            timestamp: '2026-01-01T00:00:00.5Z',
            stream: 'stdout',
            text: 'hello',
          },
        ],
      };
      const posted = await api.problem(403, 'POST', deviceLogPaths.batches(DEVICE_B), {
        token: deviceA.token,
        body: batch,
      });
      assert.match(posted.detail, new RegExp(`${DEVICE_A}.*${DEVICE_B}`));
      await api.problem(401, 'GET', deviceLogPaths.logs(DEVICE_B), { token: deviceA.token });
      await api.problem(401, 'GET', deviceLogPaths.follow(DEVICE_B), { token: deviceA.token });
      await api.problem(401, 'POST', deviceLogPaths.batches(DEVICE_A), { token: tokens.admin, body: batch });
      const bad = await api.problem(400, 'POST', deviceLogPaths.batches(DEVICE_A), {
        token: deviceA.token,
        body: { lines: [{ ...batch.lines[0], stream: 'stdin' }] },
      });
      assert.ok(
        bad.errors?.some((e) => e.path === '/lines/0/stream'),
        JSON.stringify(bad.errors),
      );
      assert.equal(
        (await api.call('POST', deviceLogPaths.batches(DEVICE_A), { token: deviceA.token, body: batch })).status,
        204,
      );
      // What a person reads of A is what A answered, through A's own channel only.
      const logs = await api.expect(200, DeviceLogsSchema, 'GET', deviceLogPaths.logs(DEVICE_A), {
        token: tokens.developer,
      });
      assert.deepEqual([logs.uuid, logs.lines], [DEVICE_A, []]);
      await api.problem(409, 'GET', deviceLogPaths.logs(DEVICE_B), { token: tokens.developer });
    });

    it('pins one device over its fleet, and track-fleet undoes it', async () => {
      const operator = { token: tokens.operator };
      await api.expect(200, FleetSchema, 'POST', paths.trackLatest('meters'), { token: tokens.admin, body: {} });
      const latest = (await store.releases.latestReady('meters'))?.version;
      assert.ok(latest !== undefined && latest !== '1');

      const pinned = await api.expect(200, DeviceDetailSchema, 'POST', paths.devicePin(DEVICE_A), {
        ...operator,
        body: { release: '1' },
      });
      assert.equal(pinned.pinnedRelease, '1');
      assert.equal(pinned.targetRelease, '1');
      const targetA = await api.expect(200, TargetStateSchema, 'GET', paths.target(DEVICE_A), { token: deviceA.token });
      const targetB = await api.expect(200, TargetStateSchema, 'GET', paths.target(DEVICE_B), { token: deviceB.token });
      assert.equal(targetA.release?.version, '1');
      assert.equal(targetB.release?.version, latest, 'the rest of the fleet is unaffected');

      const elsewhere = await api.problem(404, 'POST', paths.devicePin(DEVICE_A), {
        ...operator,
        body: { release: 'elsewhere' },
      });
      assert.match(elsewhere.detail, /fleet 'meters'/, 'a release of another fleet is not found');
      await api.problem(404, 'POST', paths.devicePin('dddddddd-none'), { ...operator, body: { release: '1' } });

      const following = await api.expect(200, DeviceDetailSchema, 'POST', paths.deviceTrackFleet(DEVICE_A), {
        ...operator,
        body: {},
      });
      assert.equal(following.pinnedRelease, null);
      assert.equal(following.targetRelease, latest);
      const back = await api.expect(200, TargetStateSchema, 'GET', paths.target(DEVICE_A), { token: deviceA.token });
      assert.equal(back.release?.version, latest);

      const trail = await api.expect(
        200,
        Type.Array(AuditEntrySchema),
        'GET',
        `${paths.audit}?device=${DEVICE_A}`,
        operator,
      );
      assert.deepEqual(
        trail.slice(0, 2).map((e) => [e.action, e.actor, e.target, e.fleet]),
        [
          ['device.track-fleet', 'otto', `device:${DEVICE_A}`, 'meters'],
          ['device.pin', 'otto', `device:${DEVICE_A}`, 'meters'],
        ],
      );
      assert.equal(trail[1]?.detail.version, '1');
      assert.deepEqual(
        trail.map((e) => e.id),
        [...trail.map((e) => e.id)].sort((a, b) => b - a),
        'newest first',
      );
    });

    it('refuses a revoked device at once, tokens and auth, until an operator accepts it again', async () => {
      await api.expect(200, TargetStateSchema, 'GET', paths.target(DEVICE_B), { token: deviceB.token });
      const revoked = await api.expect(200, DeviceDetailSchema, 'POST', paths.deviceRevoke(DEVICE_B), {
        token: tokens.operator,
        body: {},
      });
      assert.ok(revoked.revokedAt);
      assert.equal(revoked.authStatus, 'rejected');

      await api.problem(401, 'GET', paths.target(DEVICE_B), { token: deviceB.token });
      await api.problem(401, 'PATCH', paths.state(DEVICE_B), { token: deviceB.token, body: report(null) });
      const again = await join(keys.b);
      assert.equal(again.status, 403, again.text);
      assert.match(parse(ProblemSchema, again.json, 'the problem').detail, /revoked/);

      await api.expect(200, DeviceDetailSchema, 'POST', paths.deviceAccept(DEVICE_B), {
        token: tokens.admin,
        body: {},
      });
      await api.problem(401, 'GET', paths.target(DEVICE_B), { token: deviceB.token });
      const rejoined = await keys.b.token(api.base, { fleet: fleet.name, provisioningKey: fleet.provisioningKey });
      await api.problem(401, 'GET', paths.target(DEVICE_B), { token: deviceB.token });
      await api.expect(200, TargetStateSchema, 'GET', paths.target(DEVICE_B), { token: rejoined.token });
      deviceB = rejoined;

      const trail = await api.expect(
        200,
        Type.Array(AuditEntrySchema),
        'GET',
        `${paths.audit}?device=${DEVICE_B}&limit=2`,
        { token: tokens.admin },
      );
      assert.deepEqual(
        trail.map((e) => [e.action, e.actor]),
        [
          ['device.accept', 'adele'],
          ['device.revoke', 'otto'],
        ],
      );
    });

    it("keeps device A's key away from device B's identity: no takeover, no rotation, no signature of another", async () => {
      const impostor = TestDevice.create(DEVICE_B);
      const taken = await impostor.auth(api.base, { fleet: fleet.name, provisioningKey: fleet.provisioningKey });
      assert.equal(taken.status, 409, taken.text);
      // A's key signing a request that claims B's key.
      const forged = await keys.b.auth(api.base, {
        fleet: fleet.name,
        provisioningKey: fleet.provisioningKey,
        signWith: keys.a.privateKey,
      });
      assert.equal(forged.status, 401, forged.text);
      // A's key presented under B's uuid: the key belongs to A.
      const aAsB = TestDevice.create(DEVICE_B);
      Object.assign(aAsB, { privateKey: keys.a.privateKey, publicKey: keys.a.publicKey });
      assert.equal(
        (await aAsB.auth(api.base, { fleet: fleet.name, provisioningKey: fleet.provisioningKey })).status,
        409,
      );
      // Rotating B's key with A's signature.
      const rotation = await aAsB.rotate(api.base);
      assert.equal(rotation.status, 401, rotation.text);
      // B is untouched and still works.
      await api.expect(200, TargetStateSchema, 'GET', paths.target(DEVICE_B), { token: deviceB.token });
      assert.equal((await store.devices.get(DEVICE_B))?.publicKey, keys.b.publicKey);
    });

    it('refuses a replayed auth request and a stale timestamp', async () => {
      const body = keys.a.authBody({ fleet: fleet.name, provisioningKey: fleet.provisioningKey });
      const signed = {
        'content-type': 'application/json',
        'Skiff-Device-Signature': signDeviceRequest(keys.a.privateKey, body),
      };
      const first = await fetch(`${api.base}${paths.deviceAuth}`, {
        method: 'POST',
        headers: signed,
        body: JSON.stringify(body),
      });
      assert.equal(first.status, 200);
      const replayed = await fetch(`${api.base}${paths.deviceAuth}`, {
        method: 'POST',
        headers: signed,
        body: JSON.stringify(body),
      });
      assert.equal(replayed.status, 401);
      assert.match(await replayed.text(), /replay/);
      const stale = await keys.a.auth(api.base, { timestamp: new Date(Date.now() - 3600_000).toISOString() });
      assert.equal(stale.status, 401, stale.text);
      assert.match(stale.text, /stale-timestamp/);
    });
  });

  describe('tokens and users', () => {
    it('lets every user create, list and revoke their own tokens; a revoked token is refused at once', async () => {
      const own = await api.expect(201, NewApiTokenSchema, 'POST', paths.userTokens('vera'), {
        token: tokens.viewer,
        body: { label: 'laptop' },
      });
      assert.deepEqual(await api.expect(200, UserSchema, 'GET', paths.me, { token: own.token }), {
        name: 'vera',
        role: 'viewer',
        createdAt: (await store.users.get('vera'))?.createdAt,
      });
      const listed = await api.expect(200, Type.Array(ApiTokenSchema), 'GET', paths.userTokens('vera'), {
        token: own.token,
      });
      assert.ok(listed.some((t) => t.id === own.id && t.label === 'laptop' && t.lastUsedAt !== null));
      assert.ok(!JSON.stringify(listed).includes(own.token), 'a listing never shows a secret');

      const revoked = await api.expect(200, ApiTokenSchema, 'DELETE', paths.userToken('vera', own.id), {
        token: tokens.viewer,
      });
      assert.ok(revoked.revokedAt);
      const refused = await api.problem(401, 'GET', paths.me, { token: own.token });
      assert.match(refused.detail, /revoked/);
      await api.problem(404, 'DELETE', paths.userToken('vera', 'no-such-id'), { token: tokens.viewer });
      await api.problem(409, 'POST', paths.users, { token: tokens.admin, body: { name: 'vera', role: 'admin' } });
    });

    it('gives the bootstrap token to the first admin, and replaces it when the configured token changes', async () => {
      assert.deepEqual((await api.expect(200, UserSchema, 'GET', paths.me, { token: BOOTSTRAP_TOKEN })).role, 'admin');
      const replacement = 'authz-replaced-admin-token-9876543210';
      const second = await start(replacement);
      try {
        const secondApi = new Api(`http://127.0.0.1:${(second.address() as AddressInfo).port}`);
        const me = await secondApi.expect(200, UserSchema, 'GET', paths.me, { token: replacement });
        assert.deepEqual([me.name, me.role], ['admin', 'admin']);
        await secondApi.problem(401, 'GET', paths.fleets, { token: BOOTSTRAP_TOKEN });
        await api.problem(401, 'GET', paths.fleets, { token: BOOTSTRAP_TOKEN });
        const trail = await store.audit.list({ limit: 2 });
        assert.deepEqual(
          trail.map((e) => [e.action, e.actor, e.target]),
          [
            ['token.create', 'system', 'user:admin'],
            ['token.revoke', 'system', 'user:admin'],
          ],
        );
      } finally {
        second.close();
        second.closeAllConnections();
      }
    });

    it("keeps the name 'system' for the API itself", async () => {
      const reserved = await api.problem(400, 'POST', paths.users, {
        token: tokens.admin,
        body: { name: 'system', role: 'admin' },
      });
      assert.match(reserved.type, /reserved-name/);
    });

    it('pages the audit log newest first with limit and before', async () => {
      const admin = { token: tokens.admin };
      const first = await api.expect(200, Type.Array(AuditEntrySchema), 'GET', `${paths.audit}?limit=3`, admin);
      assert.equal(first.length, 3);
      const next = await api.expect(
        200,
        Type.Array(AuditEntrySchema),
        'GET',
        `${paths.audit}?limit=3&before=${first[2]?.id ?? 0}`,
        admin,
      );
      assert.equal(next.length, 3);
      const ids = [...first, ...next].map((e) => e.id);
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => b - a),
      );
      assert.equal(new Set(ids).size, 6);
      const fleetOnly = await api.expect(200, Type.Array(AuditEntrySchema), 'GET', `${paths.audit}?fleet=other`, admin);
      assert.deepEqual(fleetOnly.map((e) => e.action).sort(), [
        'fleet.create',
        'provisioning-key.create',
        'release.create',
        'release.ready',
      ]);
      await api.problem(400, 'GET', `${paths.audit}?limit=0`, admin);
      await api.problem(400, 'GET', `${paths.audit}?limit=1001`, admin);
      await api.problem(400, 'GET', `${paths.audit}?fleet=a&fleet=b`, admin);
      await api.problem(400, 'GET', `${paths.audit}?since=yesterday`, admin);
    });
  });
});

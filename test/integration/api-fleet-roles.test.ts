// Roles granted per fleet and release approval, for real: the registry-api app over SQLite (or PostgreSQL with
// SKIFF_TEST_STORE=postgres), users whose only roles are fleet grants, releases whose images are verified in the
// environment's registry, and devices reading their signed targets. A user's role on a fleet is the grant there,
// else the global role; a release asking for host privileges waits for an operator of its fleet before any device
// gets it.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Type, type TSchema } from '@sinclair/typebox';
import { AuditEntrySchema, FleetRoleSchema, NewApiTokenSchema, UserSchema, type Role } from '../../protocol/access.js';
import { DeviceSummarySchema, FleetSchema, ProblemSchema, ReleaseSchema, type Release } from '../../protocol/api.js';
import { DeviceDetailSchema } from '../../protocol/device-detail.js';
import { paths } from '../../protocol/http/paths.js';
import { pathOf } from '../../protocol/http/route.js';
import { ROUTES } from '../../protocol/http/routes.js';
import { TargetStateSchema } from '../../protocol/target-state.js';
import { parse } from '../../protocol/validate.js';
import { createLogger } from '../../lib/logger.js';
import { createApp } from '../../registry-api/http/app.js';
import { signingKeyOf } from '../../registry-api/keys/signing-key.js';
import { registryTokenIssuerOf } from '../../registry-api/delivery/registry-token.js';
import type { Store } from '../../registry-api/store/index.js';
import { openStore } from '../../registry-api/store/open.js';
import { testStoreLocation, type TestStoreLocation } from '../../harness/test-store.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { TestDevice } from '../../harness/test-device.js';
import { readAnswerBody } from '../../harness/http-answer.js';

const ADMIN = 'fleet-roles-bootstrap-admin-token-0123456789';
const DEVICE_ALPHA = 'a1a1a1a1-0000-4000-8000-0000000000a1';
const DEVICE_BETA = 'b2b2b2b2-0000-4000-8000-0000000000b2';
let IMAGE = '';

const PLAIN = 'services:\n  reader:\n    build: ./reader\n';
/** Everything the issue names: privileged, and the host's root bound into the container. */
const PRIVILEGED = 'services:\n  reader:\n    build: ./reader\n    privileged: true\n    volumes:\n      - /:/host\n';
const withBind = (source: string) =>
  `services:\n  reader:\n    build: ./reader\n    volumes:\n      - ${source}:/data\n`;

interface Answer {
  status: number;
  contentType: string;
  text: string;
  json: unknown;
}

class Api {
  constructor(readonly base: string) {}

  async call(method: string, url: string, token: string, body?: unknown): Promise<Answer> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.base}${url}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const { text, json } = await readAnswerBody(response);
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', text, json };
  }

  async expect<T extends TSchema>(
    status: number,
    schema: T,
    method: string,
    url: string,
    token: string,
    body?: unknown,
  ) {
    const answer = await this.call(method, url, token, body);
    assert.equal(answer.status, status, `${method} ${url}: ${answer.text}`);
    return parse(schema, answer.json, `the answer to ${method} ${url}`);
  }

  async problem(status: number, method: string, url: string, token: string, body?: unknown) {
    const answer = await this.call(method, url, token, body);
    assert.equal(answer.status, status, `${method} ${url} should answer ${status}: ${answer.text}`);
    assert.match(answer.contentType, /^application\/problem\+json/);
    return parse(ProblemSchema, answer.json, `the problem from ${method} ${url}`);
  }
}

describe('fleet-scoped roles and release approval', () => {
  let dir: string;
  let store: Store;
  let database: TestStoreLocation | undefined;
  let server: Server;
  let api: Api;
  const tokens: Record<string, string> = {};
  const deviceTokens: Record<string, string> = {};
  const logger = createLogger('registry-api-fleet-roles-test');
  logger.level = process.env.SKIFF_LOG_LEVEL ?? 'silent';

  let registryService = '';
  const releasesOf = (fleet: string) => paths.releases(fleet);
  const approve = (fleet: string, release: string) => pathOf(ROUTES.approveRelease, { fleet, release });
  const reject = (fleet: string, release: string) => pathOf(ROUTES.rejectRelease, { fleet, release });
  const review = (fleet: string) => pathOf(ROUTES.setFleetReview, { fleet });
  const fleetRole = (name: string, fleet: string) => pathOf(ROUTES.grantFleetRole, { name, fleet });

  async function user(name: string, role: Role | null, grants: Readonly<Record<string, Role>> = {}): Promise<void> {
    await api.expect(201, UserSchema, 'POST', paths.users, ADMIN, { name, role });
    for (const [fleet, granted] of Object.entries(grants))
      await api.expect(200, FleetRoleSchema, 'PUT', fleetRole(name, fleet), ADMIN, { role: granted });
    tokens[name] = (await api.expect(201, NewApiTokenSchema, 'POST', paths.userTokens(name), ADMIN, {})).token;
  }

  async function push(fleet: string, version: string, compose: string, token = ADMIN): Promise<Release> {
    return api.expect(201, ReleaseSchema, 'POST', releasesOf(fleet), token, {
      compose,
      images: { reader: IMAGE },
      version,
    });
  }

  /** Until the verification job found the release's images in the registry. */
  async function ready(fleet: string, version: string): Promise<Release> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const release = await api.expect(200, ReleaseSchema, 'GET', paths.release(fleet, version), ADMIN);
      if (release.status === 'ready') return release;
      assert.notEqual(release.status, 'failed', `release ${version} of ${fleet} failed: ${JSON.stringify(release)}`);
      assert.ok(Date.now() < deadline, `release ${version} of ${fleet} still ${release.status} after 60 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The version the device's signed target names, as the device itself reads it. */
  async function targetVersion(uuid: string): Promise<string | null> {
    const target = await api.expect(200, TargetStateSchema, 'GET', paths.target(uuid), deviceTokens[uuid] ?? '');
    return target.release?.version ?? null;
  }

  before(async () => {
    const env = loadTestEnv();
    IMAGE = await buildTestImage(env, { repo: 'fleet-roles-reader' });
    registryService = env.authRegistry.service;
    dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-fleet-roles-'));
    database = await testStoreLocation(dir);
    store = await openStore(database.location);
    const app = createApp({
      store,
      adminToken: ADMIN,
      registry: null,
      version: '0.0.0-test',
      signingKey: signingKeyOf(dir, null),
      logger,
      // The token server of the environment's token-auth registry: what a user may push and pull where.
      registryToken: registryTokenIssuerOf({
        keyFile: env.authRegistry.tokenKeyFile,
        service: env.authRegistry.service,
        issuer: env.authRegistry.issuer,
      }),
    });
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    api = new Api(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);

    const keys: Record<string, string> = {};
    for (const fleet of ['alpha', 'beta']) {
      const created = await api.expect(201, FleetSchema, 'POST', paths.fleets, ADMIN, {
        name: fleet,
        deviceType: 'raspberrypi4-64',
      });
      keys[fleet] = created.provisioningKey;
      assert.deepEqual(created.review, { approval: 'privileged', allowedHostPaths: [] }, 'the default review rules');
      await push(fleet, '1', PLAIN);
      await ready(fleet, '1');
    }
    for (const [uuid, fleet] of [
      [DEVICE_ALPHA, 'alpha'],
      [DEVICE_BETA, 'beta'],
    ] as const) {
      const device = TestDevice.create(uuid);
      deviceTokens[uuid] = (await device.token(api.base, { fleet, provisioningKey: keys[fleet] ?? '' })).token;
    }

    // Users whose only roles are on alpha, one per role that matters, and one whose grant lowers a global role.
    await user('alice', null, { alpha: 'developer' });
    await user('olga', null, { alpha: 'operator' });
    await user('vic', null, { alpha: 'viewer' });
    await user('bob', null, { beta: 'operator' });
    await user('gus', 'developer', { beta: 'viewer' });
  });

  after(async () => {
    server?.close();
    server?.closeAllConnections();
    await store?.close();
    await database?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('roles per fleet', () => {
    it('a developer of fleet alpha pushes to alpha but not to beta', async () => {
      const pushed = await push('alpha', 'by-alice', PLAIN, tokens.alice);
      assert.equal(pushed.pushedBy, 'alice');
      const refused = await api.problem(403, 'POST', releasesOf('beta'), tokens.alice ?? '', {
        compose: PLAIN,
        images: { reader: IMAGE },
        version: 'by-alice',
      });
      assert.match(refused.detail, /on fleet 'beta'; user 'alice' has no role on fleet 'beta'/);
      assert.equal(
        (await api.expect(200, Type.Array(ReleaseSchema), 'GET', releasesOf('beta'), ADMIN)).length,
        1,
        'nothing was pushed to beta',
      );
      await ready('alpha', 'by-alice');
    });

    it('an operator of alpha pins devices of alpha, never of beta', async () => {
      const pinned = await api.expect(
        200,
        DeviceDetailSchema,
        'POST',
        paths.devicePin(DEVICE_ALPHA),
        tokens.olga ?? '',
        {
          release: '1',
        },
      );
      assert.equal(pinned.pinnedRelease, '1');
      await api.expect(200, DeviceDetailSchema, 'POST', paths.deviceTrackFleet(DEVICE_ALPHA), tokens.olga ?? '', {});
      const refused = await api.problem(403, 'POST', paths.devicePin(DEVICE_BETA), tokens.olga ?? '', { release: '1' });
      assert.match(refused.detail, /on fleet 'beta'/);
      await api.problem(403, 'POST', paths.pin('beta'), tokens.olga ?? '', { release: '1' });
      // By short id too: the device's fleet decides, however the device is named.
      const beta = await api.expect(200, DeviceDetailSchema, 'GET', paths.device(DEVICE_BETA), ADMIN);
      await api.problem(403, 'POST', paths.devicePin(beta.shortId ?? ''), tokens.olga ?? '', { release: '1' });
      // And by a prefix of its uuid: the device it names decides, not the form of the name.
      await api.problem(403, 'POST', paths.devicePin(DEVICE_BETA.slice(0, 8)), tokens.olga ?? '', { release: '1' });
      await api.expect(200, DeviceDetailSchema, 'GET', paths.device(DEVICE_ALPHA.slice(0, 8)), tokens.olga ?? '');
      const detail = await api.expect(200, DeviceDetailSchema, 'GET', paths.device(DEVICE_BETA), ADMIN);
      assert.equal(detail.pinnedRelease ?? null, null, 'the device of beta stays unpinned');
    });

    it('a viewer with a grant on alpha sees alpha and its devices only, and changes nothing', async () => {
      const token = tokens.vic ?? '';
      const devices = await api.expect(200, Type.Array(DeviceSummarySchema), 'GET', paths.devices, token);
      assert.deepEqual(
        devices.map((d) => d.uuid),
        [DEVICE_ALPHA],
      );
      const fleets = await api.expect(200, Type.Array(FleetSchema), 'GET', paths.fleets, token);
      assert.deepEqual(
        fleets.map((f) => f.name),
        ['alpha'],
      );
      await api.expect(200, DeviceDetailSchema, 'GET', paths.device(DEVICE_ALPHA), token);
      await api.problem(403, 'GET', paths.device(DEVICE_BETA), token);
      await api.problem(403, 'GET', releasesOf('beta'), token);
      await api.problem(403, 'POST', paths.devicePin(DEVICE_ALPHA), token, { release: '1' });
      // The bootstrap admin, by contrast, sees both.
      assert.equal((await api.expect(200, Type.Array(DeviceSummarySchema), 'GET', paths.devices, ADMIN)).length, 2);
    });

    it("registry tokens follow the role on each repository's fleet", async () => {
      const access = async (name: string): Promise<unknown> => {
        const scopes = ['alpha', 'beta'].map((f) => `scope=${encodeURIComponent(`repository:${f}/reader:push,pull`)}`);
        const url = `${api.base}${pathOf(ROUTES.registryToken)}?service=${encodeURIComponent(registryService)}&${scopes.join('&')}`;
        const basic = Buffer.from(`${name}:${tokens[name] ?? ''}`).toString('base64');
        const response = await fetch(url, { headers: { authorization: `Basic ${basic}` } });
        const body = (await response.json()) as { token: string };
        assert.equal(response.status, 200, JSON.stringify(body));
        const payload = JSON.parse(Buffer.from(body.token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
          access: unknown;
        };
        return payload.access;
      };
      const repo = (fleet: string, actions: string[]) => ({ type: 'repository', name: `${fleet}/reader`, actions });
      assert.deepEqual(await access('alice'), [repo('alpha', ['pull', 'push']), repo('beta', [])]);
      assert.deepEqual(await access('vic'), [repo('alpha', ['pull']), repo('beta', [])]);
      assert.deepEqual(await access('gus'), [repo('alpha', ['pull', 'push']), repo('beta', ['pull'])]);
    });

    it("a fleet's grant replaces the global role there, downwards too", async () => {
      await push('alpha', 'by-gus', PLAIN, tokens.gus);
      await api.problem(403, 'POST', releasesOf('beta'), tokens.gus ?? '', {
        compose: PLAIN,
        images: { reader: IMAGE },
        version: 'by-gus',
      });
      await api.expect(200, Type.Array(ReleaseSchema), 'GET', releasesOf('beta'), tokens.gus ?? '');
      await ready('alpha', 'by-gus');
    });

    it('only a global admin grants and revokes fleet roles, each change audited', async () => {
      await api.problem(403, 'PUT', fleetRole('vic', 'alpha'), tokens.olga ?? '', { role: 'operator' });
      // Not even an admin of the fleet: else they could lower a global admin's role there and lock them out.
      await user('ada', null, { alpha: 'admin' });
      await api.problem(403, 'PUT', fleetRole('admin', 'alpha'), tokens.ada ?? '', { role: 'viewer' });
      await api.problem(403, 'PUT', fleetRole('vic', 'alpha'), tokens.ada ?? '', { role: 'operator' });
      await api.problem(404, 'PUT', fleetRole('vic', 'no-such-fleet'), ADMIN, { role: 'operator' });
      const granted = await api.expect(200, FleetRoleSchema, 'PUT', fleetRole('vic', 'beta'), ADMIN, {
        role: 'viewer',
      });
      assert.deepEqual(
        [granted.user, granted.fleet, granted.role, granted.grantedBy],
        ['vic', 'beta', 'viewer', 'admin'],
      );
      const me = await api.expect(200, UserSchema, 'GET', paths.me, tokens.vic ?? '');
      assert.equal(me.role, null);
      assert.deepEqual(me.fleetRoles, { alpha: 'viewer', beta: 'viewer' });
      assert.equal((await api.expect(200, Type.Array(FleetSchema), 'GET', paths.fleets, tokens.vic ?? '')).length, 2);
      await api.expect(200, FleetRoleSchema, 'DELETE', fleetRole('vic', 'beta'), ADMIN);
      await api.problem(404, 'DELETE', fleetRole('vic', 'beta'), ADMIN);
      await api.problem(403, 'GET', releasesOf('beta'), tokens.vic ?? '');
      const actions = (await store.audit.list({ fleet: 'beta', limit: 10 })).map(
        (e) => `${e.actor} ${e.action} ${e.target}`,
      );
      assert.ok(actions.includes('admin user.fleet-role.grant user:vic'), actions.join('\n'));
      assert.ok(actions.includes('admin user.fleet-role.revoke user:vic'), actions.join('\n'));
    });
  });

  describe('release approval', () => {
    let before: string | null;

    it('a privileged release is held, the device keeps its target, until an operator of that fleet approves', async () => {
      before = await targetVersion(DEVICE_ALPHA);
      assert.equal(before, 'by-gus', 'the newest plain release is what the device of alpha should run');
      const held = await push('alpha', 'privileged', PRIVILEGED, tokens.alice);
      assert.equal(held.review?.approval, 'pending');
      assert.deepEqual(held.review?.reasons, [
        'service reader: privileged',
        `service reader: binds host path "/", not in the fleet's allowed host paths`,
      ]);
      await ready('alpha', 'privileged');
      assert.equal(await targetVersion(DEVICE_ALPHA), before, 'latest skips the held release');
      const listed = await api.expect(200, Type.Array(ReleaseSchema), 'GET', releasesOf('alpha'), ADMIN);
      assert.equal(listed.find((r) => r.version === 'privileged')?.review?.approval, 'pending');

      // Nor does any pin take it to a device.
      const fleetPin = await api.problem(409, 'POST', paths.pin('alpha'), ADMIN, { release: 'privileged' });
      assert.match(fleetPin.detail, /waits for an operator's approval/);
      await api.problem(409, 'POST', paths.devicePin(DEVICE_ALPHA), ADMIN, { release: 'privileged' });
      assert.equal(await targetVersion(DEVICE_ALPHA), before);

      // Not its developer, not an operator of another fleet.
      await api.problem(403, 'POST', approve('alpha', 'privileged'), tokens.alice ?? '', {});
      await api.problem(403, 'POST', approve('alpha', 'privileged'), tokens.bob ?? '', {});
      assert.equal(await targetVersion(DEVICE_ALPHA), before);

      const approved = await api.expect(200, ReleaseSchema, 'POST', approve('alpha', 'privileged'), tokens.olga ?? '', {
        note: 'the meter needs it',
      });
      assert.equal(approved.review?.approval, 'approved');
      assert.equal(approved.review?.decidedBy, 'olga');
      assert.equal(approved.review?.note, 'the meter needs it');
      assert.equal(await targetVersion(DEVICE_ALPHA), 'privileged', 'approved, it reaches the target');
      await api.problem(409, 'POST', approve('alpha', 'privileged'), tokens.olga ?? '', {});

      // The operator of alpha reads alpha's audit log, where the approval is; not beta's, not everyone's.
      const entries = await api.expect(
        200,
        Type.Array(AuditEntrySchema),
        'GET',
        `${paths.audit}?fleet=alpha`,
        tokens.olga ?? '',
      );
      const entry = entries.find((e) => e.action === 'release.approve');
      assert.equal(entry?.actor, 'olga');
      assert.equal(entry?.detail.note, 'the meter needs it');
      assert.deepEqual(entry?.detail.reasons, held.review?.reasons);
      await api.problem(403, 'GET', `${paths.audit}?fleet=beta`, tokens.olga ?? '');
      await api.problem(403, 'GET', paths.audit, tokens.olga ?? '');
    });

    it('a rejected release never reaches a device, not even by pin', async () => {
      await push('alpha', 'rejected', PRIVILEGED, tokens.alice);
      await ready('alpha', 'rejected');
      const rejected = await api.expect(200, ReleaseSchema, 'POST', reject('alpha', 'rejected'), tokens.olga ?? '', {
        note: 'mounts / read-write',
      });
      assert.equal(rejected.review?.approval, 'rejected');
      assert.equal(await targetVersion(DEVICE_ALPHA), 'privileged');
      await api.problem(409, 'POST', approve('alpha', 'rejected'), ADMIN, {});
      await api.problem(409, 'POST', paths.devicePin(DEVICE_ALPHA), ADMIN, { release: 'rejected' });
      assert.equal(await targetVersion(DEVICE_ALPHA), 'privileged');
      const entry = (await store.audit.list({ fleet: 'alpha', limit: 20 })).find((e) => e.action === 'release.reject');
      assert.equal(entry?.actor, 'olga');
    });

    it("'always' holds a plain release until approved; 'never' lets a privileged one through", async () => {
      // Only an operator or admin of the fleet sets the rules.
      await api.problem(403, 'PATCH', review('alpha'), tokens.alice ?? '', { approval: 'never' });
      await api.problem(403, 'PATCH', review('alpha'), tokens.bob ?? '', { approval: 'never' });
      const always = await api.expect(200, FleetSchema, 'PATCH', review('alpha'), tokens.olga ?? '', {
        approval: 'always',
      });
      assert.equal(always.review?.approval, 'always');
      const plain = await push('alpha', 'plain-always', PLAIN, tokens.alice);
      assert.deepEqual(plain.review?.reasons, []);
      assert.equal(plain.review?.approval, 'pending');
      await ready('alpha', 'plain-always');
      assert.equal(await targetVersion(DEVICE_ALPHA), 'privileged', "'always' holds a release with no reasons");
      await api.expect(200, ReleaseSchema, 'POST', approve('alpha', 'plain-always'), tokens.olga ?? '', {});
      assert.equal(await targetVersion(DEVICE_ALPHA), 'plain-always');

      await api.expect(200, FleetSchema, 'PATCH', review('alpha'), tokens.olga ?? '', { approval: 'never' });
      const through = await push('alpha', 'privileged-never', PRIVILEGED, tokens.alice);
      assert.equal(through.review?.approval, 'not-required');
      assert.equal(through.review?.reasons.length, 2, 'the reasons are still recorded');
      await ready('alpha', 'privileged-never');
      assert.equal(await targetVersion(DEVICE_ALPHA), 'privileged-never');
    });

    it('binds below an allowed host path need no review; others, and escapes by .., do', async () => {
      await api.expect(200, FleetSchema, 'PATCH', review('alpha'), ADMIN, {
        approval: 'privileged',
        allowedHostPaths: ['/var/lib/skiff/tunnel'],
      });
      const cases = [
        ['/var/lib/skiff/tunnel', 'not-required'],
        ['/var/lib/skiff/tunnel/keys', 'not-required'],
        ['/var/lib/skiff/tunnel-other', 'pending'],
        ['/var/lib/skiff/tunnel/../../../../etc', 'pending'],
        ['/var/lib', 'pending'],
      ] as const;
      for (const [i, [source, approval]] of cases.entries()) {
        const release = await push('alpha', `bind-${i}`, withBind(source), tokens.alice);
        assert.equal(release.review?.approval, approval, `a bind of ${source}`);
      }
      // A malformed rule is refused, naming the field.
      const bad = await api.problem(400, 'PATCH', review('alpha'), ADMIN, { allowedHostPaths: ['var/lib'] });
      assert.match(bad.detail, /allowedHostPaths/);
    });
  });
});

// A fleet's provisioning keys for real: the registry-api app over SQLite (or PostgreSQL with
// SKIFF_TEST_STORE=postgres), devices signing with their own keys, operators through the API client and the
// `skiff keys` CLI. Several keys admit at once; a revoked or expired one refuses new devices with a 401 naming
// why, and the devices it admitted keep working. Old fleets' clear keys become hashed records on upgrade.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import type { Role } from '../../protocol/access.js';
import type { Fleet } from '../../protocol/api.js';
import { ProvisioningKeySchema } from '../../protocol/provisioning-keys.js';
import { parse } from '../../protocol/validate.js';
import { paths } from '../../protocol/http/paths.js';
import { ApiClient, ApiProblemError } from '../../cli/api-client.js';
import { buildProgram } from '../../cli/program.js';
import type { Io } from '../../cli/session.js';
import { createLogger } from '../../lib/logger.js';
import { createApp } from '../../registry-api/http/app.js';
import { hashSecret } from '../../registry-api/keys/secrets.js';
import { signingKeyOf } from '../../registry-api/keys/signing-key.js';
import type { Store } from '../../registry-api/store/index.js';
import { MIGRATIONS } from '../../registry-api/store/migrations.js';
import { openStore } from '../../registry-api/store/open.js';
import { migrate } from '../../registry-api/store/sql/migrate.js';
import { openDatabase } from '../../registry-api/store/sql/open.js';
import { testStoreLocation, type TestStoreLocation } from '../../harness/test-store.js';
import { TestDevice } from '../../harness/test-device.js';

const ADMIN_TOKEN = 'keys-bootstrap-admin-token-0123456789';
const DAY_MS = 24 * 3600 * 1000;
const uuid = (n: number) => `bbbbbbbb-0000-4000-8000-${String(n).padStart(12, '0')}`;

async function targetStatus(base: string, device: string, token: string): Promise<number> {
  const response = await fetch(`${base}${paths.target(device)}`, { headers: { authorization: `Bearer ${token}` } });
  await response.body?.cancel();
  return response.status;
}

async function problemOf(call: Promise<unknown>): Promise<{ status: number; detail: string }> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ApiProblemError) return { status: err.problem.status, detail: err.problem.detail };
    throw err;
  }
  assert.fail('the call succeeded');
}

describe('provisioning keys', function () {
  this.timeout(60_000);
  let dir: string;
  let database: TestStoreLocation | undefined;
  let store: Store;
  let server: Server;
  let base: string;
  let fleet: Fleet;
  /** The API's clock: tests move it to let keys expire. */
  let clockOffsetMs = 0;
  const now = () => new Date(Date.now() + clockOffsetMs);
  const client = (token: string) => new ApiClient({ baseUrl: base, token });
  const tokens = {} as Record<Role, string>;
  const logger = createLogger('provisioning-keys-test');
  logger.level = process.env.SKIFF_LOG_LEVEL ?? 'silent';

  async function skiff(...args: string[]): Promise<{ out: string; err: string }> {
    const printed = { out: '', err: '' };
    const io: Io = {
      stdout: (text) => {
        printed.out += text;
      },
      stderr: (text) => {
        printed.err += text;
      },
      env: { SKIFF_API_URL: base, SKIFF_API_TOKEN: ADMIN_TOKEN, HOME: dir },
      now,
    };
    await buildProgram(io)
      .exitOverride()
      .parseAsync(['node', 'skiff', ...args]);
    return printed;
  }

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-keys-'));
    database = await testStoreLocation(dir);
    store = await openStore(database.location);
    const app = createApp({
      store,
      adminToken: ADMIN_TOKEN,
      registry: null,
      version: '0.0.0-test',
      signingKey: signingKeyOf(dir, null),
      logger,
      now,
    });
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const admin = client(ADMIN_TOKEN);
    for (const role of ['viewer', 'developer', 'operator', 'admin'] as const) {
      await admin.createUser({ name: `keys-${role}`, role });
      tokens[role] = (await admin.createToken(`keys-${role}`)).token;
    }
    fleet = await admin.createFleet({ name: 'meters', deviceType: 'generic-amd64' });
    await admin.createFleet({ name: 'other', deviceType: 'generic-amd64' });
  });

  after(async () => {
    server?.close();
    server?.closeAllConnections();
    await store?.close();
    await database?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps the first key as a hashed record: shown at creation only', async () => {
    assert.ok(fleet.provisioningKey.length >= 32);
    assert.equal((await client(ADMIN_TOKEN).getFleet('meters')).provisioningKey, '');
    const keys = await client(tokens.operator).listProvisioningKeys('meters');
    assert.equal(keys.length, 1);
    assert.deepEqual(
      [keys[0]?.label, keys[0]?.revokedAt, keys[0]?.expiresAt, keys[0]?.createdBy],
      ['first key', null, null, 'admin'],
    );
    assert.ok(!JSON.stringify(keys).includes(fleet.provisioningKey), 'no secret in the list');
  });

  it('admits with any valid key; a revoked key refuses new devices (401, naming why) while the others and admitted devices keep working', async () => {
    const operator = client(tokens.operator);
    const batchA = await operator.createProvisioningKey('meters', { label: 'batch A' });
    const batchB = await operator.createProvisioningKey('meters', { label: 'batch B' });
    assert.equal(batchA.key.length >= 32 && batchA.key !== batchB.key, true);

    const early = TestDevice.create(uuid(1));
    const earlyAuth = await early.token(base, { fleet: 'meters', provisioningKey: batchA.key });
    assert.equal(await targetStatus(base, early.uuid, earlyAuth.token), 200);

    const auditBefore = (await store.audit.list({ limit: 1 }))[0]?.id ?? 0;
    const revoked = await operator.revokeProvisioningKey('meters', batchA.id);
    assert.ok(revoked.revokedAt !== null);
    const again = await operator.revokeProvisioningKey('meters', batchA.id);
    assert.equal(again.revokedAt, revoked.revokedAt, 'a second revoke keeps the first time');
    const entries = (await store.audit.list({ fleet: 'meters', limit: 100 })).filter((e) => e.id > auditBefore);
    assert.deepEqual(
      entries.map((e) => [e.action, e.actor]),
      [['provisioning-key.revoke', 'keys-operator']],
    );

    const late = TestDevice.create(uuid(2));
    const refused = await late.auth(base, { fleet: 'meters', provisioningKey: batchA.key });
    assert.equal(refused.status, 401, refused.text);
    assert.match(refused.text, /revoked/);
    for (const other of [batchB.id, batchB.label ?? '', 'batch', fleet.provisioningKey, 'first key']) {
      assert.ok(!refused.text.includes(other), `the refusal leaks '${other}': ${refused.text}`);
    }
    assert.equal(await store.devices.get(late.uuid), null, 'a refused device leaves no record');

    // Other keys still admit; the device admitted with the revoked key still authenticates with it.
    await late.token(base, { fleet: 'meters', provisioningKey: batchB.key });
    await TestDevice.create(uuid(3)).token(base, { fleet: 'meters', provisioningKey: fleet.provisioningKey });
    const reauth = await early.token(base, { fleet: 'meters', provisioningKey: batchA.key });
    assert.equal(await targetStatus(base, early.uuid, reauth.token), 200);
    assert.equal(await targetStatus(base, early.uuid, earlyAuth.token), 200, 'its earlier token still works');

    // A key of one fleet admits nobody into another.
    const wrongFleet = await TestDevice.create(uuid(4)).auth(base, { fleet: 'other', provisioningKey: batchB.key });
    assert.equal(wrongFleet.status, 401);
    assert.match(wrongFleet.text, /not a key of fleet 'other'/);
  });

  it('refuses an expired key (401, naming the expiry) and admits with it before', async () => {
    const key = await client(tokens.admin).createProvisioningKey('meters', { label: 'short-lived', expiresInDays: 2 });
    assert.ok(key.expiresAt !== null && Math.abs(Date.parse(key.expiresAt) - (now().getTime() + 2 * DAY_MS)) < 60_000);
    const before = TestDevice.create(uuid(5));
    await before.token(base, { fleet: 'meters', provisioningKey: key.key });
    clockOffsetMs = 3 * DAY_MS;
    try {
      // Devices sign with the API's (moved) clock, as they learn it from its Date header.
      const signedNow = () => ({ timestamp: now().toISOString() });
      const expired = await TestDevice.create(uuid(6)).auth(base, {
        fleet: 'meters',
        provisioningKey: key.key,
        ...signedNow(),
      });
      assert.equal(expired.status, 401, expired.text);
      assert.match(expired.text, new RegExp(`expired at ${key.expiresAt}`));
      await before.token(base, { fleet: 'meters', provisioningKey: key.key, ...signedNow() });
      await TestDevice.create(uuid(7)).token(base, {
        fleet: 'meters',
        provisioningKey: fleet.provisioningKey,
        ...signedNow(),
      });
    } finally {
      clockOffsetMs = 0;
    }
  });

  it('lets operators and admins list, create and revoke keys, and refuses viewers and developers (403)', async () => {
    for (const role of ['viewer', 'developer'] as const) {
      const c = client(tokens[role]);
      assert.equal((await problemOf(c.listProvisioningKeys('meters'))).status, 403, role);
      assert.equal((await problemOf(c.createProvisioningKey('meters', { label: 'x' }))).status, 403, role);
      const first = (await client(ADMIN_TOKEN).listProvisioningKeys('meters'))[0];
      assert.ok(first);
      assert.equal((await problemOf(c.revokeProvisioningKey('meters', first.id))).status, 403, role);
      assert.equal(first.revokedAt, null);
    }
    assert.equal((await problemOf(client(tokens.operator).revokeProvisioningKey('meters', 'no-such-key'))).status, 404);
    assert.equal((await problemOf(client(tokens.operator).listProvisioningKeys('nowhere'))).status, 404);
    const before = (await store.audit.list({ limit: 1 }))[0]?.id ?? 0;
    const created = await client(tokens.admin).createProvisioningKey('other', { label: 'audited', expiresInDays: 7 });
    const entry = (await store.audit.list({ fleet: 'other', limit: 10 })).find((e) => e.id > before);
    assert.equal(entry?.action, 'provisioning-key.create');
    assert.equal(entry?.actor, 'keys-admin');
    assert.ok(!JSON.stringify(entry).includes(created.key), 'the audit log does not keep the secret');
  });

  it('serves `skiff keys list|create|revoke` with --json', async () => {
    const made = await skiff('keys', 'create', 'other', '--label', 'cli batch', '--expires-in-days', '30');
    const secret = made.out.trim();
    assert.match(secret, /^[A-Za-z0-9_-]{40,}$/);
    assert.match(made.err, /not shown again/);
    const listed = parse(
      ProvisioningKeySchema,
      (JSON.parse((await skiff('keys', 'list', 'other', '--json')).out) as unknown[]).find(
        (k) => (k as { label?: unknown }).label === 'cli batch',
      ),
      'the listed key',
    );
    assert.ok(listed.expiresAt !== null);
    assert.match(
      (await skiff('keys', 'list', 'other')).out,
      new RegExp(`${listed.id}\\s+cli batch\\s+admin\\s+.*valid`),
    );
    await TestDevice.create(uuid(8)).token(base, { fleet: 'other', provisioningKey: secret });

    const revoked = parse(
      ProvisioningKeySchema,
      JSON.parse((await skiff('keys', 'revoke', 'other', listed.id, '--json')).out),
      'the revoked key',
    );
    assert.ok(revoked.revokedAt !== null);
    assert.match((await skiff('keys', 'list', 'other')).out, new RegExp(`${listed.id}\\s+cli batch.*revoked`));
    assert.equal(
      (await TestDevice.create(uuid(9)).auth(base, { fleet: 'other', provisioningKey: secret })).status,
      401,
    );

    const created = await skiff('fleet', 'create', 'cli-fleet', '--device-type', 'generic-amd64');
    assert.match(created.out, /Provisioning key:\s+\S{40,} \(shown once/);
    assert.match(
      (await skiff('fleet', 'show', 'cli-fleet')).out,
      /Provisioning key:\s+not shown: keys are stored hashed/,
    );
  });
});

describe('provisioning keys from before key records', function () {
  this.timeout(30_000);

  it('become hashed key records on upgrade, and no clear key is left', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-keys-upgrade-'));
    const database = await testStoreLocation(dir);
    const oldKey = 'legacy-provisioning-key-0123456789';
    try {
      const old = await openDatabase(database.location);
      try {
        await migrate(
          old,
          MIGRATIONS.filter((m) => m.version <= 7),
        );
        await old.run(
          `INSERT INTO fleets (name, device_type, provisioning_key, policy_mode, pinned_release_id, poll_interval_seconds, created_at)
          VALUES ('legacy', 'rpi4', ?, 'latest', NULL, 60, '2025-01-01T00:00:00Z')`,
          [oldKey],
        );
      } finally {
        await old.close();
      }
      const upgraded = await openStore(database.location);
      try {
        const keys = await upgraded.provisioningKeys.list('legacy');
        assert.equal(keys.length, 1);
        assert.deepEqual(
          [keys[0]?.createdBy, keys[0]?.createdAt, keys[0]?.revokedAt],
          ['system', '2025-01-01T00:00:00Z', null],
        );
        assert.equal((await upgraded.provisioningKeys.byHash('legacy', hashSecret(oldKey)))?.id, keys[0]?.id);
      } finally {
        await upgraded.close();
      }
      // Opening again adds nothing: the clear key is gone from the fleets table.
      const reopened = await openStore(database.location);
      try {
        assert.equal((await reopened.provisioningKeys.list('legacy')).length, 1);
      } finally {
        await reopened.close();
      }
      const raw = await openDatabase(database.location);
      try {
        const rows = await raw.all(
          Type.Object({ provisioning_key: Type.String() }),
          'SELECT provisioning_key FROM fleets',
        );
        assert.deepEqual(rows, [{ provisioning_key: '' }]);
      } finally {
        await raw.close();
      }
    } finally {
      await database.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

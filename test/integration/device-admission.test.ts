// Device admission for real: the registry-api app over SQLite (harness/api-server.ts), devices that sign with
// their own Ed25519 keys (harness/test-device.ts), and the operator's side through the `skiff` CLI itself.
// Pending devices wait for an operator, pre-authorized keys get in on first contact, keys rotate, short ids work
// wherever a uuid does, and a device from before device keys proves itself once with its old key.
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Fleet } from '../../protocol/api.js';
import { DeviceDetailSchema } from '../../protocol/device-detail.js';
import { DeviceAuthPendingSchema } from '../../protocol/device-auth.js';
import { parse } from '../../protocol/validate.js';
import { paths } from '../../protocol/http/paths.js';
import { MIGRATIONS } from '../../registry-api/store/migrations.js';
import { openStore } from '../../registry-api/store/open.js';
import { migrate } from '../../registry-api/store/sql/migrate.js';
import { openDatabase } from '../../registry-api/store/sql/open.js';
import { hashSecret } from '../../registry-api/keys/secrets.js';
import { ApiServer } from '../../harness/api-server.js';
import { skiff } from '../../harness/skiff-cli.js';
import { testStoreLocation, type TestStoreLocation } from '../../harness/test-store.js';
import { TestDevice } from '../../harness/test-device.js';

async function targetStatus(api: ApiServer, uuid: string, token: string): Promise<number> {
  const response = await fetch(`${api.url}${paths.target(uuid)}`, { headers: { authorization: `Bearer ${token}` } });
  await response.body?.cancel();
  return response.status;
}

describe('device admission', function () {
  this.timeout(60_000);
  let api: ApiServer;
  let fleet: Fleet;

  before(async () => {
    api = await ApiServer.start({ redisUrl: null });
    fleet = await api.createFleet('meters');
  });

  after(async () => {
    await api?.stop();
  });

  it('keeps a device without provisioning key pending until an operator accepts it (CLI)', async () => {
    const device = TestDevice.create('0e0d1a90-0000-4000-8000-000000000001');
    const asked = await device.auth(api.url, { fleet: 'meters', name: 'shed' });
    assert.equal(asked.status, 202, asked.text);
    const pending = parse(DeviceAuthPendingSchema, asked.json, 'the pending answer');
    assert.equal((await device.auth(api.url, { fleet: 'meters' })).status, 202, 'asking again changes nothing');

    const listed = JSON.parse(await skiff(api, 'devices', '--status', 'pending', '--json')) as Array<{
      uuid: string;
      shortId: string;
    }>;
    assert.deepEqual(
      listed.map((d) => [d.uuid, d.shortId]),
      [[device.uuid, pending.shortId]],
    );
    assert.match(
      await skiff(api, 'devices', '--fleet', 'meters'),
      new RegExp(`${pending.shortId}\\s+shed\\s+meters\\s+pending`),
    );

    // By short id, in lower case: what someone types from a label.
    await skiff(api, 'device', 'accept', pending.shortId.toLowerCase());
    const admitted = await device.token(api.url, { fleet: 'meters' });
    assert.equal(admitted.shortId, pending.shortId);
    assert.equal(await targetStatus(api, device.uuid, admitted.token), 200);
    assert.deepEqual(JSON.parse(await skiff(api, 'devices', '--status', 'pending', '--json')), []);
  });

  it('refuses a rejected device (403) until it is accepted', async () => {
    const device = TestDevice.create('0e1ec700-0000-4000-8000-000000000002');
    assert.equal((await device.auth(api.url, { fleet: 'meters' })).status, 202);
    const rejected = parse(
      DeviceDetailSchema,
      JSON.parse(await skiff(api, 'device', 'reject', device.uuid, '--json')),
      'the rejected device',
    );
    assert.equal(rejected.authStatus, 'rejected');
    const refused = await device.auth(api.url, { fleet: 'meters', provisioningKey: fleet.provisioningKey });
    assert.equal(refused.status, 403, 'not even the provisioning key lets a rejected key in');
    // An accepted device is revoked, not rejected.
    const other = TestDevice.create('0e1ec700-0000-4000-8000-000000000003');
    await other.token(api.url, { fleet: 'meters', provisioningKey: fleet.provisioningKey });
    await assert.rejects(skiff(api, 'device', 'reject', other.uuid), /revoke it/);
  });

  it('admits a pre-authorized key on first contact, with the uuid the device brings', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-preauth-'));
    try {
      const device = TestDevice.create('0a0ca000-0000-4000-8000-000000000004');
      // The operator has the device's public key as a PEM file, as `openssl pkey -pubout` writes it.
      const pemFile = path.join(dir, 'device.pub.pem');
      await writeFile(pemFile, createPublicKey(device.privateKey).export({ format: 'pem', type: 'spki' }).toString());
      const made = parse(
        DeviceDetailSchema,
        JSON.parse(await skiff(api, 'device', 'preauthorize', 'meters', pemFile, '--name', 'roof', '--json')),
        'the pre-authorized device',
      );
      assert.equal(made.authStatus, 'preauthorized');
      assert.notEqual(made.uuid, device.uuid, 'no uuid given: the API made one until the device calls');

      const admitted = await device.token(api.url, {});
      assert.deepEqual([admitted.uuid, admitted.name, admitted.fleet], [device.uuid, 'roof', 'meters']);
      assert.equal(await targetStatus(api, device.uuid, admitted.token), 200);
      const shown = await skiff(api, 'device', 'show', device.uuid);
      assert.match(shown, /Status:\s+online\n/);
      // The key is taken now: pre-authorizing it again is a conflict.
      await assert.rejects(
        skiff(api, 'device', 'preauthorize', 'meters', device.publicKey),
        /already the key of device/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rotates a key: old tokens die, the old key is refused, the new key works', async () => {
    const device = TestDevice.create('0a07a7e0-0000-4000-8000-000000000005');
    const first = await device.token(api.url, { fleet: 'meters', provisioningKey: fleet.provisioningKey });
    const oldKey = { privateKey: device.privateKey, publicKey: device.publicKey };
    const rotated = await device.rotate(api.url);
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal(await targetStatus(api, device.uuid, first.token), 401, 'tokens of the old key are dead');
    const token = (rotated.json as { token: string }).token;
    assert.equal(await targetStatus(api, device.uuid, token), 200);

    const withOldKey = TestDevice.create(device.uuid);
    Object.assign(withOldKey, oldKey);
    assert.equal(
      (await withOldKey.auth(api.url, { fleet: 'meters', provisioningKey: fleet.provisioningKey })).status,
      409,
    );
    assert.equal((await device.auth(api.url, { fleet: 'meters' })).status, 200);
    const trail = await api.admin.listAudit({ device: device.uuid });
    assert.deepEqual(
      trail.map((e) => [e.action, e.actor]),
      [
        ['device.rotate-key', `device:${device.uuid}`],
        ['device.register', `device:${device.uuid}`],
      ],
    );
  });

  it('renames, tags and annotates a device through the CLI, and revokes it at once', async () => {
    const device = TestDevice.create('0a0a6e00-0000-4000-8000-000000000006');
    const admitted = await device.token(api.url, { fleet: 'meters', provisioningKey: fleet.provisioningKey });
    await skiff(api, 'device', 'rename', admitted.shortId, 'cellar');
    await skiff(api, 'device', 'tag', admitted.shortId, 'basement', 'customer:42');
    await skiff(api, 'device', 'note', admitted.shortId, 'behind the boiler');
    const shown = parse(
      DeviceDetailSchema,
      JSON.parse(await skiff(api, 'device', 'show', admitted.shortId, '--json')),
      'the device',
    );
    assert.deepEqual(
      [shown.name, shown.tags, shown.note],
      ['cellar', ['basement', 'customer:42'], 'behind the boiler'],
    );
    assert.match(await skiff(api, 'device', admitted.shortId), /Name:\s+cellar\n/, '`skiff device X` shows X');

    assert.equal(await targetStatus(api, device.uuid, admitted.token), 200);
    assert.match(await skiff(api, 'device', 'revoke', admitted.shortId), /revoked at/);
    assert.equal(await targetStatus(api, device.uuid, admitted.token), 401);
    assert.equal((await device.auth(api.url, { fleet: 'meters' })).status, 403);
  });
});

/** A database as Skiff left it before device keys (schema 3): fleet 'legacy' with one device and its bearer key. */
async function databaseBeforeDeviceKeys(dir: string, legacyKey: string): Promise<TestStoreLocation> {
  const database = await testStoreLocation(dir);
  const old = await openDatabase(database.location);
  try {
    await migrate(
      old,
      MIGRATIONS.filter((m) => m.version <= 3),
    );
    await old.run(
      `INSERT INTO fleets VALUES ('legacy', 'rpi4', 'legacy-provisioning-key-0123', 'latest', NULL, 60, '2025-01-01T00:00:00Z')`,
    );
    await old.run(
      `INSERT INTO devices (uuid, name, fleet, device_type, key_hash, pinned_release_id, created_at, last_seen)
      VALUES ('dddddddd-0000-4000-8000-00000000000d', 'old', 'legacy', 'rpi4', ?, NULL, '2025-01-01T00:00:00Z', NULL)`,
      [hashSecret(legacyKey)],
    );
  } finally {
    await old.close();
  }
  return database;
}

describe('a device from before device keys', function () {
  this.timeout(30_000);

  it('keeps its place after the upgrade: accepted, with a short id', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-legacy-'));
    const database = await databaseBeforeDeviceKeys(dir, 'the-old-device-key-of-device-dddd');
    try {
      // The upgraded store gives the old device a short id.
      const upgraded = await openStore(database.location);
      const device = await upgraded.devices.get('dddddddd-0000-4000-8000-00000000000d');
      assert.match(device?.shortId ?? '', /^[0-9A-Z]{8}$/);
      assert.equal(device?.authStatus, 'accepted');
      await upgraded.close();
    } finally {
      await database.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('with its old key and a new public key, over the store', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-legacy-'));
    const database = await databaseBeforeDeviceKeys(dir, 'old-key');
    const store = await openStore(database.location);
    try {
      const attempt = (publicKey: string, legacyKeyHash: string | null, ms: number) =>
        store.devices.authenticate({
          uuid: 'dddddddd-0000-4000-8000-00000000000d',
          publicKey,
          deviceType: 'rpi4',
          fleet: 'legacy',
          provisioned: true,
          legacyKeyHash,
          timestamp: new Date(ms).toISOString(),
          token: { hash: hashSecret(`t${ms}`), expiresAt: '2099-01-01T00:00:00.000Z' },
          at: new Date(ms).toISOString(),
        });
      const key = (): string =>
        generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
      const claimed = await attempt(key(), null, 1000);
      assert.equal(claimed.kind, 'conflict', 'the provisioning key alone does not claim a known device');
      assert.equal((await attempt(key(), hashSecret('wrong-key'), 2000)).kind, 'conflict');
      const own = key();
      const bound = await attempt(own, hashSecret('old-key'), 3000);
      assert.equal(bound.kind, 'accepted');
      assert.equal((await store.devices.get('dddddddd-0000-4000-8000-00000000000d'))?.publicKey, own);
      assert.equal((await attempt(key(), hashSecret('old-key'), 4000)).kind, 'conflict', 'the old key binds once');
    } finally {
      await store.close();
      await database.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

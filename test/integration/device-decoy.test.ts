// A decoy device cannot catch the commands operators give by short id. Anyone may ask to join a fleet with a uuid
// of their choosing; were a uuid allowed to equal another device's short id, `skiff device revoke <short id>`
// would reach the decoy. New uuids must have the one fixed form (never 8 characters), and a lookup that still
// finds two devices (one admitted before that rule) names both instead of choosing.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Fleet } from '../../protocol/api.js';
import { paths } from '../../protocol/http/paths.js';
import { ConflictError, type Store } from '../../registry-api/store/index.js';
import { openStore } from '../../registry-api/store/open.js';
import { ApiServer } from '../../harness/api-server.js';
import { skiff } from '../../harness/skiff-cli.js';
import { testStoreLocation, type TestStoreLocation } from '../../harness/test-store.js';
import { TestDevice } from '../../harness/test-device.js';

async function targetStatus(api: ApiServer, uuid: string, token: string): Promise<number> {
  const response = await fetch(`${api.url}${paths.target(uuid)}`, { headers: { authorization: `Bearer ${token}` } });
  await response.body?.cancel();
  return response.status;
}

describe('a decoy device', function () {
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

  it("cannot take another device's short id as its uuid: revoking by short id revokes the real device", async () => {
    const real = TestDevice.create(randomUUID());
    const admitted = await real.token(api.url, { fleet: 'meters', provisioningKey: fleet.provisioningKey });

    for (const uuid of [admitted.shortId, admitted.shortId.toLowerCase(), `${admitted.shortId}-${admitted.shortId}`]) {
      const decoy = TestDevice.create(uuid);
      const asked = await decoy.auth(api.url, { fleet: 'meters', name: 'decoy' });
      assert.equal(asked.status, 400, `a device asking to join as '${uuid}': ${asked.text}`);
      assert.match(asked.text, /not of the allowed form: a canonical uuid in lower case: 8-4-4-4-12 hexadecimal/);
    }
    // Near misses of the canonical form are other spellings of a uuid: refused too.
    for (const uuid of [randomUUID().toUpperCase(), randomUUID().replace(/-/g, '')]) {
      const asked = await TestDevice.create(uuid).auth(api.url, { fleet: 'meters' });
      assert.equal(asked.status, 400, `a device asking to join as '${uuid}': ${asked.text}`);
    }
    const listed = JSON.parse(await skiff(api, 'devices', '--json')) as Array<{ uuid: string }>;
    assert.deepEqual(
      listed.map((d) => d.uuid),
      [real.uuid],
      'no decoy was created',
    );

    assert.match(await skiff(api, 'device', 'revoke', admitted.shortId), /revoked at/);
    const revoked = await api.device(real.uuid);
    assert.equal(revoked.authStatus, 'rejected');
    assert.notEqual(revoked.revokedAt, null);
    assert.equal(await targetStatus(api, real.uuid, admitted.token), 401);
  });

  it('is refused a pre-authorization under a uuid of another form, and cannot adopt one with such a uuid', async () => {
    const real = TestDevice.create(randomUUID());
    const admitted = await real.token(api.url, { fleet: 'meters', provisioningKey: fleet.provisioningKey });
    const decoy = TestDevice.create(admitted.shortId);
    const preauthorize = (body: Record<string, string>) =>
      fetch(`${api.url}${paths.devices}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${api.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const refused = await preauthorize({ fleet: 'meters', publicKey: decoy.publicKey, uuid: admitted.shortId });
    const problem = (await refused.json()) as { detail: string };
    assert.equal(refused.status, 400, problem.detail);
    assert.match(problem.detail, /8-4-4-4-12/);

    // Pre-authorized without a uuid, the key arrives with the uuid its device chose: that must be of the form too.
    const made = await preauthorize({ fleet: 'meters', publicKey: decoy.publicKey });
    assert.equal(made.status, 201, await made.text());
    const adopted = await decoy.auth(api.url, {});
    assert.equal(adopted.status, 400, adopted.text);
    assert.equal((await api.device(real.uuid)).authStatus, 'accepted');
  });
});

describe('looking a device up by what an operator typed', function () {
  this.timeout(30_000);
  let dir: string;
  let database: TestStoreLocation;
  let store: Store;
  const stamp = { actor: 'admin', at: '2026-01-01T00:00:00.000Z' };
  const newKey = (): string => TestDevice.create(randomUUID()).publicKey;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-lookup-'));
    database = await testStoreLocation(dir);
    store = await openStore(database.location);
    await store.fleets.create(
      {
        name: 'meters',
        deviceType: 'raspberrypi4-64',
        deviceTypes: ['raspberrypi4-64'],
        provisioningKeyHash: 'k'.repeat(64),
        pollIntervalSeconds: 60,
        createdAt: stamp.at,
      },
      stamp,
    );
  });

  after(async () => {
    await store?.close();
    await database?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("names both devices when the text is one's uuid and another's short id", async () => {
    const real = await store.devices.preauthorize(
      { uuid: randomUUID(), fleet: 'meters', deviceType: 'rpi4', publicKey: newKey() },
      stamp,
    );
    // A device admitted before uuids had a fixed form (the store does not check the form: the routes do).
    const decoy = await store.devices.preauthorize(
      { uuid: real.shortId, fleet: 'meters', deviceType: 'rpi4', publicKey: newKey() },
      stamp,
    );
    await assert.rejects(
      store.devices.get(real.shortId),
      (err: unknown) =>
        err instanceof ConflictError &&
        err.message.includes(`uuid of device '${decoy.uuid}' (short id ${decoy.shortId})`) &&
        err.message.includes(`the short id of device '${real.uuid}'`),
    );
    // Each is still reached by its other identifier.
    assert.equal((await store.devices.get(real.uuid))?.uuid, real.uuid);
    assert.equal((await store.devices.get(decoy.shortId))?.uuid, decoy.uuid);
  });
});

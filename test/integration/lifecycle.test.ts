// The ends of things on a real API (SQLite, or PostgreSQL with SKIFF_TEST_STORE=postgres): an archived fleet takes
// no new devices or releases while its devices keep their targets; a fleet is deleted only without devices; a
// release only while no device runs, targets or pins it; a user never when the last admin; a decommissioned device
// loses its key, tokens and short id, and keeps its audit trail. The CLI asks for --yes before what cannot be undone.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApiClient, ApiProblemError } from '../../cli/api-client.js';
import type { Release } from '../../protocol/api.js';
import type { StateReport } from '../../protocol/state-report.js';
import { paths } from '../../protocol/http/paths.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { skiff } from '../../harness/skiff-cli.js';
import { TestDevice } from '../../harness/test-device.js';

const compose = (tag: string): string => `services:\n  meter:\n    image: meter\n    labels:\n      build: "${tag}"\n`;

async function refused(call: Promise<unknown>): Promise<Error> {
  try {
    await call;
  } catch (err) {
    if (err instanceof Error) return err;
    throw err;
  }
  assert.fail('the call was accepted; it should have been refused');
}

async function problem(call: Promise<unknown>, status: number): Promise<ApiProblemError> {
  const err = await refused(call);
  assert.ok(err instanceof ApiProblemError, `expected a problem answer, got ${err.message}`);
  assert.equal(err.problem.status, status, err.message);
  return err;
}

describe('lifecycle of fleets, releases, users and devices (integration)', function () {
  this.timeout(180_000);
  let api: ApiServer;
  let image: string;

  const targetStatus = async (uuid: string, token: string): Promise<number> =>
    (await fetch(`${api.url}${paths.target(uuid)}`, { headers: { authorization: `Bearer ${token}` } })).status;

  const report = async (uuid: string, token: string, running: Release | null, target: Release): Promise<void> => {
    const body: StateReport = {
      supervisorVersion: '0.1.0',
      updateStatus: running?.id === target.id ? 'converged' : 'downloading',
      targetReleaseId: target.id,
      releaseId: running?.id ?? null,
      services: [],
      error: null,
      reportedAt: new Date().toISOString(),
    };
    const answer = await fetch(`${api.url}${paths.state(uuid)}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(answer.status, 204, await answer.text());
  };

  before(async () => {
    const env = loadTestEnv();
    api = await ApiServer.start({ registry: env.registry });
    image = await buildTestImage(env, { repo: 'lifecycle' });
  });

  after(async () => {
    await api?.stop();
  });

  it('an archived fleet takes no new devices or releases; its devices keep their target', async () => {
    const fleet = await api.createFleet('archived');
    const release = await api.createRelease(fleet.name, compose('1'), { meter: image });
    const known = randomUUID();
    const device = TestDevice.create(known);
    const { token } = await device.token(api.url, { fleet: fleet.name, provisioningKey: fleet.provisioningKey });
    const asked = randomUUID();
    const pending = await TestDevice.create(asked).auth(api.url, { fleet: fleet.name });
    assert.equal(pending.status, 202, pending.text);
    const out = await skiff(api, 'fleet', 'archive', fleet.name);
    assert.match(out, /^Fleet archived archived at \d{4}-\d\d-\d\dT/);
    assert.ok((await api.admin.getFleet(fleet.name)).archivedAt);
    assert.match(
      await skiff(api, 'fleet', 'show', fleet.name),
      /^Archived:\s+.*: no new devices or releases \(skiff fleet unarchive archived\)$/m,
    );

    const newcomer = await TestDevice.create(randomUUID()).auth(api.url, {
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
    });
    assert.equal(newcomer.status, 409, newcomer.text);
    assert.match(
      newcomer.text,
      /fleet 'archived' was archived at .* and takes no new devices; take it out of the archive first \(skiff fleet unarchive archived\)/,
    );
    // A device that asked to join before the archive waits: accepting it now would add a device.
    const waiting = await problem(api.admin.acceptDevice(asked), 409);
    assert.match(waiting.problem.detail, /takes no new devices/);
    const push = await problem(
      api.admin.createRelease(fleet.name, { compose: compose('2'), images: { meter: image } }),
      409,
    );
    assert.match(push.problem.type, /fleet-archived$/);
    // The device it has keeps working: it signs in again and gets its target.
    const again = await device.auth(api.url, { fleet: fleet.name, provisioningKey: fleet.provisioningKey });
    assert.equal(again.status, 200, again.text);
    assert.equal(await targetStatus(known, token), 200);
    assert.equal((await api.device(known)).targetRelease, release.version);

    await skiff(api, 'fleet', 'unarchive', fleet.name);
    assert.equal((await api.admin.getFleet(fleet.name)).archivedAt, null);
    assert.equal((await api.admin.acceptDevice(asked)).authStatus, 'accepted');
    const later = await TestDevice.create(randomUUID()).auth(api.url, {
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
    });
    assert.equal(later.status, 200, later.text);
    const actions = (await api.admin.listAudit({ fleet: fleet.name, limit: 20 })).map((entry) => entry.action);
    assert.ok(actions.includes('fleet.archive') && actions.includes('fleet.unarchive'), actions.join(', '));
  });

  it('deletes a fleet only without devices, with its releases and groups', async () => {
    const busy = await api.createFleet('busy');
    await TestDevice.create(randomUUID()).token(api.url, { fleet: busy.name, provisioningKey: busy.provisioningKey });
    const refusal = await problem(api.admin.deleteFleet(busy.name), 409);
    assert.match(refusal.problem.detail, /fleet 'busy' has 1 device\(s\): decommission them first/);

    const empty = await api.createFleet('empty');
    await api.createRelease(empty.name, compose('e'), { meter: image });
    await api.admin.createGroup(empty.name, { name: 'all-north', selector: 'tag:region=north' });
    await api.admin.setFleetVar(empty.name, 'LOG_LEVEL', 'debug');
    const noYes = await refused(skiff(api, 'fleet', 'delete', empty.name));
    assert.match(noYes.message, /would delete fleet empty and all its releases; add --yes to confirm/);
    assert.equal((await api.admin.getFleet(empty.name)).name, 'empty');
    assert.equal(await skiff(api, 'fleet', 'delete', empty.name, '--yes'), 'Fleet empty deleted\n');
    await problem(api.admin.getFleet(empty.name), 404);
    const [entry] = await api.admin.listAudit({ fleet: empty.name, limit: 1 });
    assert.equal(entry?.action, 'fleet.delete');
    assert.deepEqual(entry?.detail, { releases: 1, archivedAt: null });
    // The name is free again.
    await api.createFleet('empty');
  });

  it('deletes a release only when no device runs, targets or pins it', async () => {
    const fleet = await api.createFleet('releases');
    // The fleet follows its newest release: 3.0.0, pushed last.
    const unused = await api.createRelease(fleet.name, compose('x'), { meter: image }, { version: '0.9.0' });
    const old = await api.createRelease(fleet.name, compose('old'), { meter: image }, { version: '1.0.0' });
    const mid = await api.createRelease(fleet.name, compose('mid'), { meter: image }, { version: '2.0.0' });
    const latest = await api.createRelease(fleet.name, compose('new'), { meter: image }, { version: '3.0.0' });
    const uuid = randomUUID();
    const { token } = await TestDevice.create(uuid).token(api.url, {
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
    });
    await report(uuid, token, old, latest);

    const targeted = await problem(api.admin.deleteRelease(fleet.name, '3.0.0'), 409);
    assert.match(targeted.problem.detail, /release 3\.0\.0 of fleet 'releases' is the target of 1 device\(s\)/);
    const running = await problem(api.admin.deleteRelease(fleet.name, old.id), 409);
    assert.match(
      running.problem.detail,
      new RegExp(`release 1\\.0\\.0 of fleet 'releases' is in use: devices run it: ${uuid}`),
    );
    await api.admin.pinDevice(uuid, '2.0.0');
    const pinned = await problem(api.admin.deleteRelease(fleet.name, mid.version), 409);
    assert.match(pinned.problem.detail, /release 2\.0\.0 of fleet 'releases' is the target of 1 device\(s\) \(/);
    await api.admin.pin(fleet.name, '0.9.0');
    await api.admin.trackFleet(uuid);
    const fleetPinned = await problem(api.admin.deleteRelease(fleet.name, unused.version), 409);
    assert.match(fleetPinned.problem.detail, /is the target of 1 device|fleet 'releases' is pinned to it/);
    await api.admin.trackLatest(fleet.name);

    const out = await skiff(api, 'release', 'delete', fleet.name, '0.9.0', '--yes');
    assert.equal(out, `Release 0.9.0 (${unused.id}) of fleet releases deleted\n`);
    await problem(api.admin.getRelease(fleet.name, unused.id), 404);
    // 2.0.0: no pin, not the latest, not running or reported as a target any more.
    await api.admin.deleteRelease(fleet.name, mid.id);
    const [entry] = await api.admin.listAudit({ fleet: fleet.name, limit: 1 });
    assert.equal(entry?.action, 'release.delete');
    assert.deepEqual(entry?.detail, { version: '2.0.0' });
    assert.equal((await api.admin.listReleases(fleet.name)).length, 2);
  });

  it('deletes a user and their tokens, never the last admin', async () => {
    await api.admin.createUser({ name: 'dora', role: 'operator' });
    const { token } = await api.admin.createToken('dora', 'laptop');
    const dora = new ApiClient({ baseUrl: api.url, token });
    assert.equal((await dora.me()).name, 'dora');
    const noYes = await refused(skiff(api, 'user', 'delete', 'dora'));
    assert.match(noYes.message, /would delete user dora and their API tokens; add --yes to confirm/);
    assert.equal(await skiff(api, 'user', 'delete', 'dora', '--yes'), 'User dora deleted\n');
    await problem(dora.me(), 401);
    assert.ok(!(await api.admin.listUsers()).some((user) => user.name === 'dora'));

    const last = await problem(api.admin.deleteUser('admin'), 409);
    assert.match(last.problem.detail, /user 'admin' is the last admin: make another user admin first/);
    await api.admin.createUser({ name: 'ada', role: 'admin' });
    const [entry] = await api.admin.listAudit({ limit: 1 });
    assert.equal(entry?.action, 'user.create');
    await api.admin.deleteUser('ada');
    const [deleted] = await api.admin.listAudit({ limit: 1 });
    assert.equal(deleted?.action, 'user.delete');
    assert.equal(deleted?.target, 'user:ada');
  });

  it('decommissions a device: key, tokens and short id go, the audit trail stays', async () => {
    const fleet = await api.createFleet('decommission');
    const uuid = randomUUID();
    const device = TestDevice.create(uuid);
    const admitted = await device.token(api.url, { fleet: fleet.name, provisioningKey: fleet.provisioningKey });
    await api.admin.updateDevice(uuid, { name: 'old-meter' });
    const noYes = await refused(skiff(api, 'device', 'decommission', admitted.shortId));
    assert.match(noYes.message, /add --yes to confirm/);
    assert.equal((await api.device(uuid)).authStatus, 'accepted');

    const out = await skiff(api, 'device', 'decommission', admitted.shortId, '--yes');
    assert.equal(
      out,
      `Device old-meter (${uuid}) of fleet decommission decommissioned; short id ${admitted.shortId} is free again\n`,
    );
    await problem(api.admin.getDevice(uuid), 404);
    await problem(api.admin.getDevice(admitted.shortId), 404);
    assert.equal(await targetStatus(uuid, admitted.token), 401, 'its token is gone');
    const trail = await api.admin.listAudit({ device: uuid, limit: 10 });
    assert.deepEqual(
      trail.map((entry) => entry.action),
      ['device.decommission', 'device.update', 'device.register'],
    );
    assert.equal(trail[0]?.detail.shortId, admitted.shortId);
    // Its key is forgotten: the same box is a stranger now, free to join another fleet as a new device.
    const fresh = await api.createFleet('elsewhere');
    const back = await device.auth(api.url, { fleet: fresh.name, provisioningKey: fresh.provisioningKey });
    assert.equal(back.status, 200, `a decommissioned device's key is free: ${back.text}`);
  });
});

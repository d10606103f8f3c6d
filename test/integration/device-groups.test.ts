// Devices picked by what they are, on a real API (SQLite, or PostgreSQL with SKIFF_TEST_STORE=postgres): the device
// list's ?filter, a fleet's saved groups used as group:NAME, pin/track-fleet/tag/revoke by selector (one audit
// entry with the selector and the counts), and the refusals: a bad selector names its term and the keys allowed,
// an empty selector acts on a whole fleet only with `all`, and the CLI asks for --all and --yes before it asks
// the API.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApiProblemError } from '../../cli/api-client.js';
import type { Fleet, Release } from '../../protocol/api.js';
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

const uuids = (devices: readonly { uuid: string }[]): string[] => devices.map((d) => d.uuid).sort();

describe('device selectors, groups and bulk operations (integration)', function () {
  this.timeout(180_000);
  let api: ApiServer;
  let meters: Fleet;
  let other: Fleet;
  let one: Release;
  let two: Release;
  const tokens = new Map<string, string>();
  // north: a and b (b is the canary); south: c; d has no tags; e is of the other fleet, also north.
  const [a, b, c, d, e] = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];

  const admit = async (uuid: string, fleet: Fleet, name: string): Promise<void> => {
    const answer = await TestDevice.create(uuid).token(api.url, {
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      name,
    });
    tokens.set(uuid, answer.token);
  };

  const report = async (uuid: string, release: Release): Promise<void> => {
    const body: StateReport = {
      supervisorVersion: '0.1.0',
      updateStatus: 'converged',
      targetReleaseId: release.id,
      releaseId: release.id,
      services: [],
      error: null,
      osVersion: '1.4.0',
      reportedAt: new Date().toISOString(),
    };
    const answer = await fetch(`${api.url}${paths.state(uuid)}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${tokens.get(uuid) ?? ''}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(answer.status, 204, await answer.text());
  };

  before(async () => {
    const env = loadTestEnv();
    api = await ApiServer.start({ registry: env.registry });
    meters = await api.createFleet('meters');
    other = await api.createFleet('gateways');
    const image = await buildTestImage(env, { repo: 'groups' });
    one = await api.createRelease(meters.name, compose('1'), { meter: image }, { version: '1.0.0' });
    two = await api.createRelease(meters.name, compose('2'), { meter: image }, { version: '2.0.0' });
    for (const [uuid, name] of [
      [a, 'roof-a'],
      [b, 'roof-b'],
      [c, 'cellar-c'],
      [d, 'attic-d'],
    ] as const)
      await admit(uuid, meters, name);
    await admit(e, other, 'gate-e');
    await api.admin.updateDevice(a, { tags: ['region=north'] });
    await api.admin.updateDevice(b, { tags: ['region=north', 'canary'] });
    await api.admin.updateDevice(c, { tags: ['region=south'] });
    await api.admin.updateDevice(e, { tags: ['region=north'] });
    // Commissioning data comes from the installer's tools, not this route: written as the store would.
    await api.store.devices.update(
      c,
      { site: 'cellar-12', customer: 'acme' },
      { actor: 'admin', at: '2026-12-07T00:00:00Z' },
    );
    await report(a, one);
    await report(b, two);
  });

  after(async () => {
    await api?.stop();
  });

  it('lists the devices a selector picks, over fleets or in one', async () => {
    assert.deepEqual(uuids(await api.admin.listDevices(undefined, undefined, 'tag:region=north')), [a, b, e].sort());
    assert.deepEqual(uuids(await api.admin.listDevices(meters.name, undefined, 'tag:region')), [a, b, c].sort());
    assert.deepEqual(uuids(await api.admin.listDevices(meters.name, undefined, '!tag:region')), [d]);
    assert.deepEqual(uuids(await api.admin.listDevices(undefined, undefined, 'release:1.0.0')), [a]);
    assert.deepEqual(uuids(await api.admin.listDevices(undefined, undefined, `release:${two.id.slice(0, 8)}`)), [b]);
    assert.deepEqual(
      uuids(await api.admin.listDevices(undefined, undefined, 'os:1.4.0,status:converged')),
      [a, b].sort(),
    );
    assert.deepEqual(uuids(await api.admin.listDevices(undefined, undefined, 'site:cellar-*,customer:acme')), [c]);
    assert.deepEqual(
      uuids(await api.admin.listDevices(undefined, undefined, 'tag:canary|region=south,type:generic-amd64')),
      [b, c].sort(),
    );
    assert.equal((await api.admin.listDevices(undefined, undefined, 'online:yes')).length, 5);
    assert.deepEqual(uuids(await api.admin.listDevices(undefined, undefined, 'fleet:gateways')), [e]);
  });

  it('answers a bad selector with a 400 naming the term and the keys allowed', async () => {
    const bad = await problem(api.admin.listDevices(undefined, undefined, 'tag:canary,colour:blue'), 400);
    assert.match(bad.problem.type, /invalid-selector$/);
    assert.match(bad.problem.detail, /term 2 \("colour:blue"\) has the unknown key "colour"; keys are tag, type, os,/);
    assert.deepEqual(
      bad.problem.errors?.map((issue) => issue.path),
      ['/filter'],
    );
    const status = await problem(api.admin.listDevices(undefined, undefined, 'status:stuck'), 400);
    assert.match(status.problem.detail, /status takes converged, downloading, applying, error, none/);
  });

  it('skiff devices --filter prints the devices picked, and refuses a bad selector before asking', async () => {
    const table = await skiff(api, 'devices', '--filter', 'tag:region=north,fleet:meters');
    assert.match(table, /roof-a/);
    assert.match(table, /roof-b/);
    assert.doesNotMatch(table, /cellar-c|attic-d|gate-e/);
    const json = JSON.parse(await skiff(api, 'devices', '--filter', 'tag:canary', '--json')) as { uuid: string }[];
    assert.deepEqual(uuids(json), [b]);
    const before = api.requests.length;
    const err = await refused(skiff(api, 'devices', '--filter', 'colour:blue'));
    assert.match(err.message, /--filter: 'colour:blue' is not valid: term 1 \("colour:blue"\) has the unknown key/);
    assert.equal(api.requests.length, before, 'the CLI refused it without asking the API');
  });

  it('saves groups, lists them, and resolves group:NAME in a fleet', async () => {
    const created = await skiff(api, 'group', 'create', meters.name, 'north', 'tag:region=north');
    assert.equal(created, 'Group north of fleet meters: tag:region=north, 2 device(s) now\n');
    await api.admin.createGroup(meters.name, { name: 'southern', selector: 'tag:region=south' });
    await api.admin.createGroup(other.name, { name: 'north', selector: 'tag:region=north' });
    const listed = await skiff(api, 'groups', meters.name);
    assert.match(listed, /^NAME\s+SELECTOR\s+CREATED BY\s+CREATED$/m);
    assert.match(listed, /^north\s+tag:region=north\s+admin\s/m);
    assert.match(listed, /^southern\s+tag:region=south\s+admin\s/m);
    assert.deepEqual(uuids(await api.admin.listDevices(meters.name, undefined, 'group:north,!tag:canary')), [a]);
    assert.deepEqual(
      uuids(await api.admin.listDevices(meters.name, undefined, 'group:north|southern')),
      [a, b, c].sort(),
    );
    // Over every fleet, each fleet's own group of that name.
    assert.deepEqual(uuids(await api.admin.listDevices(undefined, undefined, 'group:north')), [a, b, e].sort());
    // A group only meters has: the gateways have none of its devices.
    assert.deepEqual(uuids(await api.admin.listDevices(undefined, undefined, 'group:southern')), [c]);
    assert.equal((await api.admin.getGroup(meters.name, 'southern')).devices, 1);
  });

  it('refuses unknown, nested, empty and duplicate groups', async () => {
    const unknown = await problem(api.admin.listDevices(meters.name, undefined, 'group:west'), 400);
    assert.match(unknown.problem.detail, /the group "west" does not exist/);
    const nowhere = await problem(api.admin.listDevices(undefined, undefined, 'group:west'), 400);
    assert.match(nowhere.problem.detail, /names the group "west", which none of the listed fleets has/);
    const nested = await problem(api.admin.createGroup(meters.name, { name: 'nested', selector: 'group:north' }), 400);
    assert.match(nested.problem.detail, /saved groups cannot name other groups/);
    const empty = await problem(api.admin.createGroup(meters.name, { name: 'all', selector: '  ' }), 400);
    assert.match(empty.problem.detail, /needs a selector with at least one term/);
    const twice = await problem(api.admin.createGroup(meters.name, { name: 'north', selector: 'tag:x' }), 409);
    assert.match(twice.problem.detail, /fleet 'meters' has a group 'north' already/);
    await api.admin.createGroup(meters.name, { name: 'doomed', selector: 'tag:x' });
    assert.equal(await skiff(api, 'group', 'delete', meters.name, 'doomed'), 'Group doomed of fleet meters deleted\n');
    await problem(api.admin.getGroup(meters.name, 'doomed'), 404);
  });

  it('pins and unpins by selector, audited once with the selector and the counts', async () => {
    const out = await skiff(api, 'device', 'pin', '--filter', 'group:north', '--fleet', meters.name, '1.0.0');
    assert.equal(out, "pinned to release 1.0.0: 2 of 2 device(s) of fleet meters selected by 'group:north' changed\n");
    for (const uuid of [a, b]) assert.equal((await api.device(uuid)).pinnedRelease, '1.0.0');
    for (const uuid of [c, d]) assert.equal((await api.device(uuid)).pinnedRelease, null);
    const again = await api.admin.bulkPin(meters.name, { selector: 'tag:region=north', release: '1.0.0' });
    assert.deepEqual(again, { fleet: 'meters', selector: 'tag:region=north', matched: 2, changed: 0 });
    const [entry] = await api.admin.listAudit({ fleet: meters.name, limit: 1 });
    assert.equal(entry?.action, 'device.bulk-pin');
    assert.deepEqual(entry?.detail, {
      selector: 'tag:region=north',
      matched: 2,
      changed: 0,
      releaseId: one.id,
      version: '1.0.0',
    });
    const pins = (await api.admin.listAudit({ fleet: meters.name, limit: 50 })).filter((x) => x.action.endsWith('pin'));
    assert.equal(pins.length, 2, 'one entry per bulk operation, none per device');
    const unpinned = await skiff(api, 'device', 'track-fleet', '--filter', 'fleet:meters,tag:canary');
    assert.match(
      unpinned,
      /^following their fleet: 1 of 1 device\(s\) of fleet meters selected by 'fleet:meters,tag:canary' changed\n$/,
    );
    assert.equal((await api.device(b)).pinnedRelease, null);
    assert.equal((await api.device(a)).pinnedRelease, '1.0.0');
  });

  it('refuses an empty selector unless all is explicit, in the API and in the CLI', async () => {
    const empty = await problem(api.admin.bulkRevoke(meters.name, { selector: '' }), 400);
    assert.match(empty.problem.type, /empty-selector$/);
    assert.match(empty.problem.detail, /would act on every device of fleet 'meters'; give a selector, or all: true/);
    const both = await problem(api.admin.bulkTrackFleet(meters.name, { selector: 'tag:x', all: true }), 400);
    assert.match(both.problem.detail, /both a selector and all: true/);
    const before = api.requests.length;
    const noFilter = await refused(skiff(api, 'device', 'revoke', '--fleet', meters.name, '--filter', ''));
    assert.match(noFilter.message, /needs --filter SELECTOR, or --all to act on every device of the fleet/);
    const noYes = await refused(skiff(api, 'device', 'revoke', '--filter', 'fleet:meters,tag:canary'));
    assert.match(noYes.message, /would revoke every device of fleet meters the selector picks; add --yes to confirm/);
    const noFleet = await refused(skiff(api, 'device', 'pin', '--filter', 'tag:canary', '1.0.0'));
    assert.match(noFleet.message, /acts on one fleet: give --fleet FLEET/);
    assert.equal(api.requests.length, before, 'nothing reached the API');
    for (const uuid of [a, b, c, d]) assert.equal((await api.device(uuid)).authStatus, 'accepted');
    const all = await api.admin.bulkTrackFleet(meters.name, { selector: '', all: true });
    assert.deepEqual(all, { fleet: 'meters', selector: '', matched: 4, changed: 1 });
  });

  it('tags by selector, adding pairs that replace their key and removing labels', async () => {
    const out = await skiff(
      api,
      'device',
      'tag',
      '--filter',
      'tag:region=north',
      '--fleet',
      meters.name,
      'region=east',
      'batch=7',
      '--remove',
      'canary',
    );
    assert.equal(out, "tagged: 2 of 2 device(s) of fleet meters selected by 'tag:region=north' changed\n");
    assert.deepEqual((await api.device(a)).tags, ['region=east', 'batch=7']);
    assert.deepEqual((await api.device(b)).tags, ['region=east', 'batch=7']);
    assert.deepEqual((await api.device(e)).tags, ['region=north'], 'the other fleet is untouched');
    // One device: the replace form still replaces, --add and --remove edit.
    await skiff(api, 'device', 'tag', d, 'spare', 'floor=2');
    assert.deepEqual((await api.device(d)).tags, ['spare', 'floor=2']);
    const edited = await skiff(api, 'device', 'tag', d, 'floor=3', '--remove', 'spare');
    assert.match(edited, /tags floor=3\n$/);
    await skiff(api, 'device', 'tag', d, 'canary', '--add');
    assert.deepEqual((await api.device(d)).tags, ['floor=3', 'canary']);
  });

  it('revokes by selector with --yes: their tokens stop working at once, the others keep theirs', async () => {
    const out = await skiff(api, 'device', 'revoke', '--filter', 'fleet:meters,tag:batch=7', '--yes');
    assert.equal(out, "revoked: 2 of 2 device(s) of fleet meters selected by 'fleet:meters,tag:batch=7' changed\n");
    for (const uuid of [a, b]) {
      assert.equal((await api.device(uuid)).authStatus, 'rejected');
      const target = await fetch(`${api.url}${paths.target(uuid)}`, {
        headers: { authorization: `Bearer ${tokens.get(uuid) ?? ''}` },
      });
      assert.equal(target.status, 401);
    }
    const target = await fetch(`${api.url}${paths.target(c)}`, {
      headers: { authorization: `Bearer ${tokens.get(c) ?? ''}` },
    });
    assert.equal(target.status, 200);
    const [entry] = await api.admin.listAudit({ fleet: meters.name, limit: 1 });
    assert.equal(entry?.action, 'device.bulk-revoke');
    assert.deepEqual(entry?.detail, { selector: 'fleet:meters,tag:batch=7', matched: 2, changed: 2 });
  });
});

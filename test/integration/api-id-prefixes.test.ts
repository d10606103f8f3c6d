// People type the start of an id, as with git's abbreviated commits: a unique prefix of a device's short id or uuid,
// or of a release id, names it in every command; a prefix that fits several is refused naming them, never
// resolved to one of them.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApiProblemError } from '../../cli/api-client.js';
import type { Fleet } from '../../protocol/api.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { skiff } from '../../harness/skiff-cli.js';
import { TestDevice } from '../../harness/test-device.js';

const compose = (tag: string): string => `services:\n  meter:\n    image: meter\n    labels:\n      build: "${tag}"\n`;

/** A canonical uuid that starts with `start` (hex). */
const uuidStarting = (start: string): string => start + randomUUID().slice(start.length);

async function refused(call: Promise<unknown>): Promise<Error> {
  try {
    await call;
  } catch (err) {
    if (err instanceof Error) return err;
    throw err;
  }
  assert.fail('the command accepted what it should have refused');
}

describe('id prefixes (integration)', function () {
  this.timeout(120_000);
  let api: ApiServer;
  let fleet: Fleet;
  const shortIds: Record<string, string> = {};
  const [first, second, other] = [uuidStarting('abcd1'), uuidStarting('abcd2'), uuidStarting('0f0f0')];

  before(async () => {
    api = await ApiServer.start({ registry: loadTestEnv().registry });
    fleet = await api.createFleet('prefixes');
    for (const uuid of [first, second, other]) {
      const admitted = await TestDevice.create(uuid).token(api.url, {
        fleet: fleet.name,
        provisioningKey: fleet.provisioningKey,
      });
      shortIds[uuid] = admitted.shortId;
    }
  });

  after(async () => {
    await api?.stop();
  });

  it('finds a device by a unique start of its uuid or of its short id, in any case', async () => {
    assert.equal((await api.admin.getDevice('abcd1')).uuid, first);
    assert.equal((await api.admin.getDevice(other.slice(0, 8).toUpperCase())).uuid, other);
    const shortId = shortIds[second] ?? '';
    // Short ids are random: the first five characters of one of three devices' are unique in all but a freak case,
    // and the test would then say so rather than pass by luck.
    const start = shortId.slice(0, 5);
    assert.equal(Object.values(shortIds).filter((id) => id.startsWith(start)).length, 1, 'the prefix fits one device');
    assert.equal((await api.admin.getDevice(start.toLowerCase())).uuid, second);
    const shown = JSON.parse(await skiff(api, 'device', 'show', start, '--json')) as { uuid: string };
    assert.equal(shown.uuid, second);
  });

  it('refuses a prefix that fits several devices, naming them, and reaches neither', async () => {
    const err = await refused(skiff(api, 'device', 'revoke', 'abcd'));
    assert.match(err.message, /"abcd" is the start of the short id or uuid of 2 devices/);
    assert.ok(err.message.includes(first) && err.message.includes(second), err.message);
    for (const uuid of [first, second]) assert.equal((await api.device(uuid)).authStatus, 'accepted');
    const problem = await refused(api.admin.getDevice('abcd'));
    assert.ok(problem instanceof ApiProblemError);
    assert.equal(problem.problem.status, 409);
  });

  it('says a prefix is too short or fits nothing, with the rule', async () => {
    for (const given of ['abc', 'ffff9']) {
      const problem = await refused(api.admin.getDevice(given));
      assert.ok(problem instanceof ApiProblemError);
      assert.equal(problem.problem.status, 404);
      assert.match(problem.problem.detail ?? '', /a prefix needs at least 4 characters/);
    }
  });

  it('pins by a unique start of a release id; a prefix that fits nothing is not found', async () => {
    const env = loadTestEnv();
    const image = await buildTestImage(env, { repo: 'prefixes' });
    const one = await api.createRelease(fleet.name, compose('1'), { meter: image });
    const two = await api.createRelease(fleet.name, compose('2'), { meter: image });
    // Two random ids: the shortest start of `one` that `two` does not share.
    let length = 4;
    while (two.id.startsWith(one.id.slice(0, length))) length++;
    await skiff(api, 'device', 'pin', first.slice(0, 6), one.id.slice(0, length));
    assert.equal((await api.device(first)).pinnedRelease, one.version);
    await skiff(api, 'release', 'show', fleet.name, two.id.slice(0, 12));
    const missing = await refused(skiff(api, 'pin', fleet.name, 'ffffffff'));
    assert.match(missing.message, /ffffffff/);
  });
});

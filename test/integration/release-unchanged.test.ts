// An unchanged push makes no release: the API answers with the fleet's newest release when the new one would
// have the same content (normalised services with their digests, volumes, networks). What is not "unchanged": a
// failed newest release, content that an older release had, and a version given by name.
import assert from 'node:assert/strict';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { eventually } from '../../harness/supervisor-device.js';

const env = loadTestEnv();

describe('unchanged pushes', function () {
  this.timeout(120_000);
  let api: ApiServer;
  let imageA: string;
  let imageB: string;
  const compose = (tag: string) => `services:\n  app:\n    image: ghcr.io/acme/app:${tag}\n    restart: always\n`;

  before(async () => {
    [imageA, imageB] = await Promise.all([
      buildTestImage(env, { repo: 'same' }),
      buildTestImage(env, { repo: 'same' }),
    ]);
    api = await ApiServer.start({ registry: env.registry });
  });

  after(async () => {
    await api?.stop();
  });

  it('answers with the newest release for the same content, and keeps the reference people wrote', async () => {
    const fleet = await api.createFleet('same');
    const first = await api.admin.createRelease(fleet.name, { compose: compose('1.0'), images: { app: imageA } });
    assert.equal(first.unchanged, undefined);
    assert.deepEqual(first.sources, { app: 'ghcr.io/acme/app:1.0' });
    // Another tag that resolved to the same digest, other notes: the content is the same.
    const again = await api.admin.createRelease(fleet.name, {
      compose: compose('latest'),
      images: { app: imageA },
      notes: 'again',
    });
    assert.equal(again.unchanged, true);
    assert.equal(again.id, first.id);
    // A named version asks for a release of its own.
    const named = await api.admin.createRelease(fleet.name, {
      compose: compose('1.0'),
      images: { app: imageA },
      version: 'named',
    });
    assert.notEqual(named.id, first.id);
    // Back to content an older release had: a new release, so that a fleet tracking its latest moves back.
    const b = await api.admin.createRelease(fleet.name, { compose: compose('2.0'), images: { app: imageB } });
    const backToA = await api.admin.createRelease(fleet.name, { compose: compose('1.0'), images: { app: imageA } });
    assert.equal(backToA.unchanged, undefined);
    assert.deepEqual(
      (await api.admin.listReleases(fleet.name)).map((r) => r.id),
      [backToA.id, b.id, named.id, first.id],
    );
  });

  it('a failed newest release is pushed again as a new one', async () => {
    const fleet = await api.createFleet('retry');
    const missing = `${env.registry}/skiff-test/missing@sha256:${'e'.repeat(64)}`;
    const failed = await api.admin.createRelease(fleet.name, { compose: compose('1.0'), images: { app: missing } });
    await eventually('the release to fail verification', 30_000, async () =>
      (await api.admin.getRelease(fleet.name, failed.id)).status === 'failed' ? true : undefined,
    );
    const retried = await api.admin.createRelease(fleet.name, { compose: compose('1.0'), images: { app: missing } });
    assert.notEqual(retried.id, failed.id);
    assert.equal(retried.unchanged, undefined);
  });
});

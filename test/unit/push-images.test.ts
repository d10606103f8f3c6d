// Which images `skiff push` copies into the fleet's registry and which it keeps, read through the one reference
// parser (protocol/image-reference.ts): a REPO:TAG@sha256:... with a registry or namespace is read the way the
// device reads it (the digest names the image, the tag is a label).
import assert from 'node:assert/strict';
import { planImages } from '../../cli/push/copy-images.js';
import { localImageRef } from '../../supervisor/images/local-image.js';

const HEX = 'd'.repeat(64);

describe('skiff push: named images', () => {
  it('copies tagged images, with their registry and repository as the device would name them', () => {
    const plan = planImages(
      [
        'services:',
        '  web:',
        '    image: nginx:1.25',
        '  ha:',
        '    image: ghcr.io/home-assistant/home-assistant:stable',
        '  db:',
        '    image: postgres',
        '  built:',
        '    build: .',
        '    image: mine/built:dev',
        '',
      ].join('\n'),
      '127.0.0.1:5000',
    );
    assert.deepEqual(
      plan.copies.map((c) => [c.service, c.ref.registry, c.ref.repository, c.ref.tag ?? null, c.ref.digest ?? null]),
      [
        ['web', 'docker.io', 'library/nginx', '1.25', null],
        ['ha', 'ghcr.io', 'home-assistant/home-assistant', 'stable', null],
        ['db', 'docker.io', 'library/postgres', null, null],
      ],
    );
    assert.deepEqual(plan.kept, {});
  });

  it('REPO:TAG@sha256 with a registry and namespace: kept when in the fleet registry, copied by digest otherwise', () => {
    const inFleet = `registry.lan:5000/fleet/app:1.0@sha256:${HEX}`;
    const elsewhere = `ghcr.io/acme/tool:2.1@sha256:${HEX}`;
    const plan = planImages(
      `services:\n  app:\n    image: ${inFleet}\n  tool:\n    image: ${elsewhere}\n`,
      'registry.lan:5000',
    );
    assert.deepEqual(plan.kept, { app: inFleet });
    assert.equal(plan.copies.length, 1);
    assert.equal(plan.copies[0]?.ref.digest, `sha256:${HEX}`);
    assert.equal(plan.copies[0]?.ref.repository, 'acme/tool');
    // What the device makes of the kept reference: the same repository, named by the digest.
    assert.equal(localImageRef(inFleet), `registry.lan:5000/fleet/app:sha256-${HEX}`);
  });

  it('without a fleet registry, a digest is kept as written', () => {
    const image = `acme/tool:2.1@sha256:${HEX}`;
    assert.deepEqual(planImages(`services:\n  tool:\n    image: ${image}\n`, null).kept, { tool: image });
  });

  it('a reference that breaks the grammar is refused naming the service and what is wrong', () => {
    assert.throws(
      () => planImages('services:\n  app:\n    image: registry:5000/Acme/app:1.0\n', null),
      /services\.app\.image: image reference 'registry:5000\/Acme\/app:1\.0' has path component 'Acme'/,
    );
  });
});

// Copying images registry to registry with the one registry client (lib/registry/copy.ts, upload.ts), against real
// distribution registries: an index with every platform or a filtered one, chunked uploads, and mounts within one
// registry instead of uploads.
import assert from 'node:assert/strict';
import { RegistryClient } from '../../lib/registry/client.js';
import { copyImage, type CopyEvent } from '../../lib/registry/copy.js';
import { parseDigestReference } from '../../protocol/image-reference.js';
import { ImageIndexSchema, MEDIA_TYPES } from '../../protocol/oci-image.js';
import { parse } from '../../protocol/validate.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { SourceRegistry } from '../../harness/source-registry.js';

const env = loadTestEnv();

describe('registry copy (lib/registry/copy.ts)', function () {
  this.timeout(180_000);
  let source: SourceRegistry;
  const client = new RegistryClient();
  let indexDigest: string;
  const platforms = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
  ];

  before(async () => {
    source = await SourceRegistry.start();
    const sourceEnv = { devDockerHost: env.devDockerHost, registry: source.address };
    // Two images under one repository, and an index naming them as two platforms, as a multi-arch publisher has.
    const images = await Promise.all([
      buildTestImage(sourceEnv, { repo: 'multi' }),
      buildTestImage(sourceEnv, { repo: 'multi' }),
    ]);
    const repo = { registry: source.address, repository: 'skiff-test/multi' };
    const manifests = await Promise.all(
      images.map(async (image, i) => {
        const m = await client.getManifest(repo, parseDigestReference(image).digest);
        return { mediaType: m.mediaType, digest: m.digest, size: m.body.length, platform: platforms[i] };
      }),
    );
    const index = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.dockerManifestList, manifests }),
    );
    await client.putManifest(repo, '2.0', MEDIA_TYPES.dockerManifestList, index);
    indexDigest = (await client.manifest(repo, '2.0'))!.digest;
  });

  after(async () => {
    await source?.stop();
  });

  it('copies an index with every platform manifest and keeps its digest; chunked when the blobs are large', async () => {
    const target = { registry: env.registry, repository: `copy-${Date.now()}/all` };
    const events: CopyEvent[] = [];
    const progress = new Map<string, number>();
    const result = await copyImage(
      client,
      { registry: source.address, repository: 'skiff-test/multi' },
      '2.0',
      target,
      'v1',
      {
        chunkBytes: 64 * 1024,
        onBlob: (e) => events.push(e),
        onBytes: (digest) => progress.set(digest, (progress.get(digest) ?? 0) + 1),
      },
    );
    assert.equal(result.digest, indexDigest);
    assert.deepEqual(result.platforms, platforms);
    assert.ok(
      [...progress.values()].some((n) => n > 2),
      `a layer went in several PATCHes of 64 KiB: ${JSON.stringify([...progress])}`,
    );
    assert.ok(events.some((e) => e.result === 'uploaded'));
    const copied = await client.manifest(target, 'v1');
    assert.equal(copied?.digest, indexDigest);
    const index = parse(ImageIndexSchema, JSON.parse(copied!.body.toString()), 'copied index');
    for (const m of index.manifests) {
      const head = await client.headManifest(target, m.digest);
      assert.equal(head.status, 200, `${m.digest} is in the target`);
    }
  });

  it('copies only the platforms the filter keeps, as a new index', async () => {
    const target = { registry: env.registry, repository: `copy-${Date.now()}/arm` };
    const result = await copyImage(
      client,
      { registry: source.address, repository: 'skiff-test/multi' },
      '2.0',
      target,
      'v1',
      { platforms: (p) => p?.architecture === 'arm64' },
    );
    assert.notEqual(result.digest, indexDigest);
    assert.deepEqual(result.platforms, [platforms[1]]);
    const index = parse(ImageIndexSchema, JSON.parse((await client.manifest(target, 'v1'))!.body.toString()), 'index');
    assert.deepEqual(
      index.manifests.map((m) => m.platform?.architecture),
      ['arm64'],
    );
    await assert.rejects(
      copyImage(client, { registry: source.address, repository: 'skiff-test/multi' }, '2.0', target, 'v2', {
        platforms: (p) => p?.architecture === 'riscv64',
      }),
      /has no manifest for the platforms asked for \(it offers linux\/amd64, linux\/arm64\/v8\)/,
    );
  });

  it('within one registry, mounts blobs from the source repository instead of sending them', async () => {
    const stamp = Date.now();
    const first = { registry: env.registry, repository: `copy-${stamp}/first` };
    await copyImage(client, { registry: source.address, repository: 'skiff-test/multi' }, '2.0', first, 'v1');
    const events: CopyEvent[] = [];
    const result = await copyImage(
      client,
      first,
      'v1',
      { registry: env.registry, repository: `copy-${stamp}/second` },
      'v1',
      {
        onBlob: (e) => events.push(e),
      },
    );
    assert.equal(result.digest, indexDigest);
    assert.equal(result.bytesUploaded, 0);
    assert.ok(events.length > 0);
    assert.ok(
      events.every((e) => e.result === 'mounted' || e.result === 'present'),
      JSON.stringify(events),
    );
  });

  it('says which image is missing at the source', async () => {
    await assert.rejects(
      copyImage(
        client,
        { registry: source.address, repository: 'skiff-test/multi' },
        'no-such-tag',
        { registry: env.registry, repository: 'copy/none' },
        'v1',
      ),
      new RegExp(`${source.address}/skiff-test/multi has no image 'no-such-tag'`),
    );
  });
});

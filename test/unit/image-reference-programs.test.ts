// The reference the device once refused while the API and the compose normaliser took it (REPO:TAG@sha256:...):
// all three now read it through protocol/image-reference.ts, and fetch it by its digest.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { normalizeCompose } from '../../protocol/compose/normalize.js';
import { MEDIA_TYPES } from '../../protocol/oci-image.js';
import { checkImage, imageCheckRegistry } from '../../registry-api/delivery/image-check.js';
import { RegistryClient } from '../../lib/registry/client.js';
import { bytesImageNeeds } from '../../supervisor/images/disk-facts.js';
import { localImageRef, namesRegistryHost } from '../../supervisor/images/local-image.js';

const HEX = 'c'.repeat(64);
const DIGEST = `sha256:${HEX}`;

/** A registry on loopback serving one image (manifest + config), answering every request it gets. */
async function fakeRegistry(): Promise<{ server: Server; address: string; manifestDigest: string; seen: string[] }> {
  const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [DIGEST] } }));
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.dockerManifest,
      config: {
        mediaType: 'application/vnd.docker.container.image.v1+json',
        digest: configDigest,
        size: config.length,
      },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: DIGEST, size: 1000 }],
    }),
  );
  const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url === `/v2/a/b/manifests/${manifestDigest}`) {
      res.writeHead(200, { 'content-type': MEDIA_TYPES.dockerManifest, 'docker-content-digest': manifestDigest });
      res.end(req.method === 'HEAD' ? undefined : manifest);
    } else if (req.url === `/v2/a/b/blobs/${configDigest}`) {
      res.writeHead(200).end(config);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, address: `127.0.0.1:${port}`, manifestDigest, seen };
}

describe('REPO:TAG@sha256:... (once refused by the device only)', () => {
  let registry: Awaited<ReturnType<typeof fakeRegistry>>;
  let reference: string;

  before(async () => {
    registry = await fakeRegistry();
    reference = `${registry.address}/a/b:1.0@${registry.manifestDigest}`;
  });
  after(() => registry.server.close());

  it('the compose normaliser takes it as a service image and as a pinned digest', () => {
    const yaml = `services:\n  app:\n    image: ${reference}\n`;
    assert.equal(normalizeCompose(yaml, {}).services[0]?.image, reference);
    const built = 'services:\n  app:\n    build: .\n';
    assert.equal(normalizeCompose(built, { app: reference }).services[0]?.image, reference);
    assert.equal(
      normalizeCompose(`services:\n  app:\n    image: registry:5000/a/b:1.0@sha256:${HEX}\n`, {}).services[0]?.image,
      `registry:5000/a/b:1.0@sha256:${HEX}`,
    );
  });

  it("the API's image check finds it by its digest", async () => {
    const since = registry.seen.length;
    assert.deepEqual(await checkImage(imageCheckRegistry(), reference), { kind: 'present' });
    assert.deepEqual(registry.seen.slice(since), [`HEAD /v2/a/b/manifests/${registry.manifestDigest}`]);
  });

  it('the device fetches it by its digest and tags it by the digest', async () => {
    assert.equal(namesRegistryHost(reference), true);
    assert.equal(localImageRef(reference), `${registry.address}/a/b:sha256-${registry.manifestDigest.slice(7)}`);
    assert.equal(localImageRef(`registry:5000/a/b:1.0@sha256:${HEX}`), `registry:5000/a/b:sha256-${HEX}`);
    const bytes = await bytesImageNeeds(new RegistryClient(), reference, new Set(), {
      os: 'linux',
      architecture: 'amd64',
    });
    assert.ok(bytes > 1000, `${bytes} bytes needed`);
  });

  it('a compose file the API refuses is one the device would refuse, with the same reason', () => {
    const broken = `registry:5000/a/B:1.0@sha256:${HEX}`;
    assert.throws(
      () => normalizeCompose(`services:\n  app:\n    image: ${broken}\n`, {}),
      /path component 'B', which is not allowed/,
    );
    assert.throws(() => localImageRef(broken), /path component 'B', which is not allowed/);
  });
});

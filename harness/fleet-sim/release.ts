// Releases for simulated fleets: a minimal, well-formed image (one empty layer) pushed to a real registry, so the
// API's release verification finds it by digest as it finds a developer's images, and a two-service compose file
// (a meter reader and an uploader) over such images. Simulated devices download nothing, so the images stay tiny.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { RegistryClient } from '../../lib/registry/client.js';

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * Pushes a one-layer image to `registry`/`repository` (plain HTTP on loopback) and returns its manifest digest.
 * `salt` goes into the image config, so each salt is another image (another release's content).
 */
export async function pushTinyImage(registry: string, repository: string, salt = ''): Promise<string> {
  const io = new RegistryClient();
  const ref = { registry, repository };
  const tar = Buffer.alloc(1024);
  const layer = gzipSync(tar);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'arm64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
      ...(salt === '' ? {} : { config: { Labels: { salt } } }),
    }),
  );
  await io.pushBlob(ref, sha256(layer), { bytes: layer });
  await io.pushBlob(ref, sha256(config), { bytes: config });
  const mediaType = 'application/vnd.docker.distribution.manifest.v2+json';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: {
        mediaType: 'application/vnd.docker.container.image.v1+json',
        size: config.length,
        digest: sha256(config),
      },
      layers: [
        { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: layer.length, digest: sha256(layer) },
      ],
    }),
  );
  await io.putManifest(ref, salt === '' ? 'bench' : `sim-${salt}`, mediaType, manifest);
  return sha256(manifest);
}

/** A meter fleet's compose file over two image references (pinned by digest). */
export function meterCompose(reader: string, uploader: string): string {
  return `services:
  meter-reader:
    image: ${reader}
    restart: always
    environment:
      METER_PORT: /dev/ttyUSB0
  uploader:
    image: ${uploader}
    restart: always
    depends_on: [meter-reader]
`;
}

/** The compose file of a release `salt` of fleet `fleet`: its two images pushed to `registry` first. */
export async function tinyMeterRelease(registry: string, fleet: string, salt = ''): Promise<string> {
  const reader = `${registry}/${fleet}/reader@${await pushTinyImage(registry, `${fleet}/reader`, salt)}`;
  const uploader = `${registry}/${fleet}/uploader@${await pushTinyImage(registry, `${fleet}/uploader`, salt)}`;
  return meterCompose(reader, uploader);
}

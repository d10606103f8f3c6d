// A multi-platform image as one name: the manifest list (OCI image index) that points at one image manifest per
// platform. The registry takes it like any manifest, but only once every manifest it lists is there: push those
// first. Reading the platforms an image offers is here too, as both the CLI (refusing an `image:` that lacks one)
// and anything checking a release need it.
import { createHash } from 'node:crypto';
import {
  ImageConfigSchema,
  ImageIndexSchema,
  ImageManifestSchema,
  MEDIA_TYPES,
  type Platform,
} from '../../protocol/oci-image.js';
import { parse } from '../../protocol/validate.js';
import type { RegistryClient, RepositoryRef } from './client.js';

export interface IndexEntry {
  /** The platform's image manifest, already in `ref`'s repository. */
  digest: string;
  platform: Platform;
}

/** An index lists at most this many manifests before it is taken as hostile: far more than platforms exist. */
export const MAX_INDEX_ENTRIES = 64;

/**
 * PUTs the manifest list of `entries` under `tag` and returns its digest. Each entry's manifest is read back for
 * its media type and size (what the list must state exactly); a list of Docker manifests is a Docker manifest
 * list, anything else an OCI index, as clients expect the two not to be mixed.
 */
export async function putImageIndex(
  client: RegistryClient,
  ref: RepositoryRef,
  tag: string,
  entries: readonly IndexEntry[],
): Promise<string> {
  if (entries.length === 0) throw new Error(`a manifest list for ${ref.registry}/${ref.repository} needs an image`);
  const manifests = await Promise.all(
    entries.map(async (entry) => {
      const found = await client.getManifest(ref, entry.digest);
      if (found.mediaType === MEDIA_TYPES.dockerManifestList || found.mediaType === MEDIA_TYPES.ociIndex) {
        throw new Error(
          `${ref.registry}/${ref.repository}@${entry.digest} is a manifest list itself, not one platform's image`,
        );
      }
      return { mediaType: found.mediaType, digest: entry.digest, size: found.body.length, platform: entry.platform };
    }),
  );
  const docker = manifests.every((m) => m.mediaType === MEDIA_TYPES.dockerManifest);
  const mediaType = docker ? MEDIA_TYPES.dockerManifestList : MEDIA_TYPES.ociIndex;
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests }));
  await client.putManifest(ref, tag, mediaType, body);
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

/**
 * The platforms of the image `reference` (a tag or digest) names: each entry of its manifest list, or the one its
 * config states. Null when the registry has no such image.
 */
export async function imagePlatforms(
  client: RegistryClient,
  ref: RepositoryRef,
  reference: string,
  signal?: AbortSignal,
): Promise<Platform[] | null> {
  const where = `${ref.registry}/${ref.repository}:${reference}`;
  const top = await client.manifest(ref, reference, signal);
  if (top === null) return null;
  const doc: unknown = JSON.parse(top.body.toString('utf8'));
  const mediaType =
    top.mediaType || (typeof doc === 'object' && doc !== null && 'mediaType' in doc ? String(doc.mediaType) : '');
  if (mediaType === MEDIA_TYPES.dockerManifestList || mediaType === MEDIA_TYPES.ociIndex) {
    const index = parse(ImageIndexSchema, doc, `manifest list ${where}`);
    if (index.manifests.length > MAX_INDEX_ENTRIES) {
      throw new Error(
        `manifest list ${where} lists ${index.manifests.length} images; at most ${MAX_INDEX_ENTRIES} are read`,
      );
    }
    return index.manifests.flatMap((m) => (m.platform === undefined ? [] : [m.platform]));
  }
  const manifest = parse(ImageManifestSchema, doc, `manifest ${where}`);
  const config = parse(
    ImageConfigSchema,
    JSON.parse((await client.blobBytes(ref, manifest.config.digest, signal)).toString('utf8')),
    `image config of ${where}`,
  );
  return [
    {
      os: config.os ?? 'linux',
      architecture: config.architecture ?? 'unknown',
      ...(config.variant === undefined ? {} : { variant: config.variant }),
    },
  ];
}

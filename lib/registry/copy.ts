// Copies an image from one repository to another, registry to registry, through the one client: a single
// manifest with its config and layers, or an image index with every platform manifest it lists (or those a filter
// keeps). Blobs stream (upload.ts); within one registry they are mounted instead. Manifests are put by digest,
// the top one also under the tag asked for, and the bytes are kept as they are so digests stay the source's
// (a filtered index is the one exception: it is a new document, with its own digest).
import { createHash } from 'node:crypto';
import {
  type Descriptor,
  ImageIndexSchema,
  ImageManifestSchema,
  MEDIA_TYPES,
  type Platform,
} from '../../protocol/oci-image.js';
import { parse } from '../../protocol/validate.js';
import type { FetchedManifest, RegistryClient, RepositoryRef } from './client.js';
import { type BlobUploadResult, uploadBlob } from './upload.js';

/** A source would have to be hostile or broken to list more; the copy refuses it rather than follow. */
export const COPY_LIMITS = { manifestBytes: 4 * 1024 * 1024, layers: 256, platforms: 64 } as const;

export interface CopyEvent {
  kind: 'blob';
  digest: string;
  size: number;
  result: BlobUploadResult;
}

export interface CopyOptions {
  /** Keeps the index entries it answers true for; absent: every platform. Ignored for a single-platform image. */
  platforms?: (platform: Platform | undefined) => boolean;
  /** Each blob once it is in the target (already there, mounted or uploaded). */
  onBlob?(event: CopyEvent): void;
  /** Bytes of the blob being uploaded so far. */
  onBytes?(digest: string, sentBytes: number, size: number): void;
  chunkBytes?: number;
  signal?: AbortSignal;
}

export interface CopyResult {
  /** sha256 digest of the top manifest (or index) in the target. */
  digest: string;
  mediaType: string;
  /** The platforms copied (empty for a single manifest without platform). */
  platforms: Platform[];
  /** Bytes sent (blobs the target lacked and could not mount). */
  bytesUploaded: number;
}

const INDEX_TYPES = new Set<string>([MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.ociIndex]);
const MANIFEST_TYPES = new Set<string>([MEDIA_TYPES.dockerManifest, MEDIA_TYPES.ociManifest]);

function jsonOf(manifest: FetchedManifest, where: string): unknown {
  if (manifest.body.length > COPY_LIMITS.manifestBytes)
    throw new Error(`${where}: manifest of ${manifest.body.length} bytes; at most ${COPY_LIMITS.manifestBytes}`);
  try {
    return JSON.parse(manifest.body.toString('utf8'));
  } catch {
    throw new Error(`${where}: the manifest is not JSON`);
  }
}

/** The media type the document declares, else the answer's Content-Type. */
function mediaTypeOf(manifest: FetchedManifest, json: unknown): string {
  const declared = (json as { mediaType?: unknown }).mediaType;
  return typeof declared === 'string' ? declared : manifest.mediaType;
}

export function platformText(platform: Platform | undefined): string {
  if (platform === undefined) return 'unknown platform';
  return `${platform.os}/${platform.architecture}${platform.variant === undefined ? '' : `/${platform.variant}`}`;
}

/**
 * Copies `source` (`reference`: a tag or digest) to `target`, tagged `tag`. Throws saying which manifest or blob
 * failed and where; a source that has no such reference is an error naming it.
 */
export async function copyImage(
  client: RegistryClient,
  source: RepositoryRef,
  reference: string,
  target: RepositoryRef,
  tag: string,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const from = `${source.registry}/${source.repository}`;
  const top = await client.manifest(source, reference, options.signal);
  if (top === null) throw new Error(`${from} has no image '${reference}'`);
  const where = `${from}:${reference}`;
  const json = jsonOf(top, where);
  const mediaType = mediaTypeOf(top, json);
  const sameRegistry = source.registry === target.registry;
  let bytesUploaded = 0;

  const copyBlob = async (blob: Descriptor): Promise<void> => {
    const result = await uploadBlob(
      client,
      target,
      blob.digest,
      blob.size,
      () => client.blobStream(source, blob.digest, options.signal),
      {
        ...(sameRegistry ? { mountFrom: source.repository } : {}),
        ...(options.chunkBytes === undefined ? {} : { chunkBytes: options.chunkBytes }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        onProgress: (sent) => options.onBytes?.(blob.digest, sent, blob.size),
      },
    );
    if (result === 'uploaded') bytesUploaded += blob.size;
    options.onBlob?.({ kind: 'blob', digest: blob.digest, size: blob.size, result });
  };

  /** One platform's manifest: its blobs first, then the manifest itself (a registry refuses one with blobs missing). */
  const copyManifest = async (manifest: FetchedManifest, at: string, putAs: string): Promise<void> => {
    const body = parse(ImageManifestSchema, jsonOf(manifest, at), `the manifest of ${at}`);
    if (body.layers.length > COPY_LIMITS.layers)
      throw new Error(`${at}: ${body.layers.length} layers; at most ${COPY_LIMITS.layers} are copied`);
    await copyBlob(body.config);
    for (const layer of body.layers) await copyBlob(layer);
    await client.putManifest(target, putAs, mediaTypeOf(manifest, body), manifest.body);
  };

  if (MANIFEST_TYPES.has(mediaType)) {
    await copyManifest(top, where, tag);
    return { digest: top.digest, mediaType, platforms: [], bytesUploaded };
  }
  if (!INDEX_TYPES.has(mediaType))
    throw new Error(`${where} is a '${mediaType || 'unknown'}' document, neither an image manifest nor an index`);

  const index = parse(ImageIndexSchema, json, `the index of ${where}`);
  const kept =
    options.platforms === undefined ? index.manifests : index.manifests.filter((m) => options.platforms!(m.platform));
  if (kept.length === 0) {
    const offered = index.manifests.map((m) => platformText(m.platform)).join(', ');
    throw new Error(`${where} has no manifest for the platforms asked for (it offers ${offered || 'none'})`);
  }
  if (kept.length > COPY_LIMITS.platforms)
    throw new Error(`${where} lists ${kept.length} manifests; at most ${COPY_LIMITS.platforms} are copied`);
  for (const entry of kept) {
    const child = await client.getManifest(source, entry.digest, options.signal);
    await copyManifest(child, `${from}@${entry.digest} (${platformText(entry.platform)})`, entry.digest);
  }
  // Unfiltered, the index's own bytes (and so its digest) travel; filtered, a new index lists what was kept.
  const bytes =
    kept.length === index.manifests.length
      ? top.body
      : Buffer.from(JSON.stringify({ ...(json as Record<string, unknown>), manifests: kept }));
  await client.putManifest(target, tag, mediaType, bytes);
  const digest = bytes === top.body ? top.digest : `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  return {
    digest,
    mediaType,
    platforms: kept.flatMap((m) => (m.platform === undefined ? [] : [m.platform])),
    bytesUploaded,
  };
}

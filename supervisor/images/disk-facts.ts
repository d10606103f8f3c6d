// Gathers the facts ../plan/disk-space.ts judges by, from the registry and the engine: what each missing image needs (its
// manifest's compressed layer sizes, minus layers the engine already has, matched by the uncompressed digests its
// config lists), how much is free where the engine keeps its data, and which of Skiff's images no container uses.
// An optional image quota caps the space Skiff may fill with images on a disk it shares with other data.
import {
  ImageConfigSchema,
  ImageIndexSchema,
  ImageManifestSchema,
  MEDIA_TYPES,
  type ImageManifest,
  type Platform,
} from '../../protocol/oci-image.js';
import type { TargetState } from '../../protocol/target-state.js';
import { parse } from '../../protocol/validate.js';
import { mkdir, statfs } from 'node:fs/promises';
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import type { CurrentState } from '../reconcile/current-state.js';
import {
  DATA_RESERVE_BYTES,
  UNPACK_FACTOR,
  type DiskFacts,
  type DownloadFacts,
  type RemovableImage,
} from '../plan/disk-space.js';
import type { BlobStore } from './download/blob-store.js';
import type { Engine, EngineImage } from '../engine/engine.js';
import { isSkiffImage } from './cleanup.js';
import { hostPlatform, pickPlatform } from './fetcher.js';
import { localImageRef } from './local-image.js';
import { parseDigestReference, type DigestReference } from '../../protocol/image-reference.js';
import type { RegistryClient } from '../../lib/registry/client.js';

export interface DiskFactsOptions {
  engine: Pick<Engine, 'dataRootSpace' | 'diskUsage' | 'listImages' | 'inspectImage'>;
  registry: RegistryClient;
  log: Logger;
  platform?: Platform;
  /** Bytes all images together may take; free space is then the smaller of the disk's and the quota's. */
  imageQuotaBytes?: number;
  /** The supervisor's download store: its directory's free space is checked too (../plan/disk-space.ts). */
  downloads?: Pick<BlobStore, 'root' | 'bytesHeld' | 'prunePartials'>;
}

interface ImageNeeds {
  /** Bytes on the engine's disk at the peak of the delivery. */
  diskBytes: number;
  /** The blobs still to download (config and the layers the engine lacks). */
  blobs: { digest: string; size: number }[];
}

async function manifestOf(registry: RegistryClient, ref: DigestReference, platform: Platform): Promise<ImageManifest> {
  const top = await registry.getManifest(ref, ref.digest);
  const doc: unknown = JSON.parse(top.body.toString('utf8'));
  const where = `${ref.registry}/${ref.repository}@${ref.digest}`;
  if (top.mediaType !== MEDIA_TYPES.dockerManifestList && top.mediaType !== MEDIA_TYPES.ociIndex) {
    return parse(ImageManifestSchema, doc, `manifest ${where}`);
  }
  const entry = pickPlatform(parse(ImageIndexSchema, doc, `manifest list ${where}`).manifests, platform);
  if (entry === undefined)
    throw new Error(`manifest list ${where} has no image for ${platform.os}/${platform.architecture}`);
  const chosen = await registry.getManifest(ref, entry.digest);
  return parse(ImageManifestSchema, JSON.parse(chosen.body.toString('utf8')), `manifest ${where} (${entry.digest})`);
}

/** Bytes `image` needs on disk at the peak of its delivery; layers whose content the engine has cost nothing. */
export async function bytesImageNeeds(
  registry: RegistryClient,
  image: string,
  presentLayers: ReadonlySet<string>,
  platform: Platform,
): Promise<number> {
  return (await imageNeeds(registry, image, presentLayers, platform)).diskBytes;
}

async function imageNeeds(
  registry: RegistryClient,
  image: string,
  presentLayers: ReadonlySet<string>,
  platform: Platform,
): Promise<ImageNeeds> {
  const ref = parseDigestReference(image);
  const manifest = await manifestOf(registry, ref, platform);
  const config = parse(
    ImageConfigSchema,
    JSON.parse((await registry.blobBytes(ref, manifest.config.digest)).toString('utf8')),
    `image config ${manifest.config.digest}`,
  );
  const diffIds = config.rootfs.diff_ids;
  const missing = manifest.layers.filter((_, i) => diffIds[i] === undefined || !presentLayers.has(diffIds[i]));
  return {
    diskBytes: manifest.config.size + UNPACK_FACTOR * missing.reduce((sum, layer) => sum + layer.size, 0),
    blobs: [manifest.config, ...missing].map((b) => ({ digest: b.digest, size: b.size })),
  };
}

/** The download directory's free space, and what each image's blobs still need there. */
async function downloadFactsOf(
  downloads: NonNullable<DiskFactsOptions['downloads']>,
  blobsOf: Record<string, ImageNeeds['blobs'] | null>,
): Promise<DownloadFacts> {
  await mkdir(downloads.root, { recursive: true });
  const stats = await statfs(downloads.root);
  const needs: Record<string, number | null> = {};
  for (const [image, blobs] of Object.entries(blobsOf)) {
    if (blobs === null) {
      needs[image] = null;
      continue;
    }
    let bytes = 0;
    for (const blob of blobs) bytes += blob.size - (await downloads.bytesHeld(blob.digest, blob.size));
    needs[image] = bytes;
  }
  return { path: downloads.root, freeBytes: stats.bavail * stats.bsize, needs };
}

/**
 * When the target's blobs do not fit, partial downloads of blobs it does not need (a target that changed
 * mid-download: a pin back to a smaller release) are what stands in the way: they are dropped and the directory
 * measured again. Only then: a partial kept otherwise may still serve (a delta patch being fetched, a target
 * coming back). Only when every missing image's blobs are known, or a needed one could go.
 */
async function withoutStalePartials(
  downloads: NonNullable<DiskFactsOptions['downloads']>,
  blobsOf: Record<string, ImageNeeds['blobs'] | null>,
  facts: DownloadFacts,
  log: Logger,
): Promise<DownloadFacts> {
  const need = Object.values(facts.needs).reduce<number>((sum, n) => sum + (n ?? 0), 0);
  if (need + DATA_RESERVE_BYTES <= facts.freeBytes) return facts;
  const wanted = Object.values(blobsOf);
  if (wanted.some((blobs) => blobs === null)) return facts;
  await downloads.prunePartials(new Set(wanted.flatMap((blobs) => (blobs ?? []).map((b) => b.digest))));
  const measured = await downloadFactsOf(downloads, blobsOf);
  if (measured.freeBytes > facts.freeBytes) {
    log.info(
      { path: facts.path, freedBytes: measured.freeBytes - facts.freeBytes },
      'partial downloads the target does not need were dropped to make room',
    );
  }
  return measured;
}

/**
 * The facts for the images `missing`; undefined when neither the engine's data root nor a download directory can
 * be measured from here. An engine data root out of sight counts as unbounded: only the download directory is
 * checked then.
 */
export async function gatherDiskFacts(
  options: DiskFactsOptions,
  missing: string[],
  current: CurrentState,
  target: TargetState,
): Promise<DiskFacts | undefined> {
  const { engine, registry, log } = options;
  const space = await engine.dataRootSpace();
  if (space === undefined && options.downloads === undefined) return undefined;
  let freeBytes = space?.freeBytes ?? Number.POSITIVE_INFINITY;
  if (options.imageQuotaBytes !== undefined) {
    const { imagesBytes } = await engine.diskUsage();
    freeBytes = Math.max(0, Math.min(freeBytes, options.imageQuotaBytes - imagesBytes));
  }
  const summaries = await engine.listImages();
  const inspected = (await Promise.all(summaries.map((s) => engine.inspectImage(s.id)))).filter(
    (i): i is EngineImage => i !== undefined,
  );
  const presentLayers = new Set(inspected.flatMap((i) => i.diffIds));
  const platform = options.platform ?? hostPlatform();
  const needs: Record<string, number | null> = {};
  const blobsOf: Record<string, ImageNeeds['blobs'] | null> = {};
  for (const image of missing) {
    try {
      const found = await imageNeeds(registry, image, presentLayers, platform);
      needs[image] = found.diskBytes;
      blobsOf[image] = found.blobs;
    } catch (err) {
      log.warn({ image, err: messageOf(err) }, 'cannot tell how much disk the image needs');
      needs[image] = null;
      blobsOf[image] = null;
    }
  }
  let download: DownloadFacts | undefined;
  if (options.downloads !== undefined) {
    try {
      download = await downloadFactsOf(options.downloads, blobsOf);
      download = await withoutStalePartials(options.downloads, blobsOf, download, log);
    } catch (err) {
      log.warn({ path: options.downloads.root, err: messageOf(err) }, 'cannot measure the download directory');
    }
  }
  // Containers name their image by the reference they were created from; the engine knows it by id.
  const inUse: Record<string, number> = {};
  const usedIds = new Set<string>();
  for (const ref of new Set(current.containers.map((c) => c.image))) {
    const image = await engine.inspectImage(ref);
    if (image === undefined) continue;
    inUse[ref] = image.size;
    usedIds.add(image.id);
  }
  const targetImages = new Set(target.services.map((s) => s.image));
  const unused: RemovableImage[] = summaries
    .filter(
      (s) =>
        !usedIds.has(s.id) && isSkiffImage(s) && ![...s.repoTags, ...s.repoDigests].some((r) => targetImages.has(r)),
    )
    .filter((s) => !target.services.some((svc) => s.repoTags.includes(localTagOf(svc.image))))
    .map((s) => ({ id: s.id, bytes: s.size }));
  return {
    path: space?.path ?? "(the engine's data root, not visible here)",
    freeBytes,
    needs,
    unused,
    inUse,
    ...(download === undefined ? {} : { download }),
  };
}

/** The tag Skiff's fetcher gives the image, or the reference itself when it names no registry by digest. */
function localTagOf(image: string): string {
  try {
    return localImageRef(image);
  } catch {
    return image;
  }
}

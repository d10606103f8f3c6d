// Delivers an image from the registry into the engine without `docker pull`: the manifest (a manifest list is
// resolved to the device's platform), the config and the layer blobs the engine does not have yet, each through
// the resumable, capped downloader, then one `docker load` of a minimal archive. The engine verifies every layer
// against its diffID on load, and the loaded image ID must equal the config digest, so what runs is what the
// target named. The image is tagged REGISTRY/REPO:sha256-HEX (see local-image.ts).
import { readFile } from 'node:fs/promises';
import {
  ImageConfigSchema,
  ImageIndexSchema,
  ImageManifestSchema,
  MEDIA_TYPES,
  type Descriptor,
  type ImageManifest,
  type Platform,
} from '../../protocol/oci-image.js';
import { parse } from '../../protocol/validate.js';
import type { Logger } from '../../lib/logger.js';
import type { BackoffPolicy } from '../../lib/backoff.js';
import { dockerArchive, type ArchiveFile } from './docker-archive.js';
import type { BlobStore } from './download/blob-store.js';
import { hexOf } from './download/partial-file.js';
import type { TokenBucket } from './bandwidth/token-bucket.js';
import type { Engine } from '../engine/engine.js';
import { localImageRef, resolveLocalImage } from './local-image.js';
import { parseDigestReference, type DigestReference } from '../../protocol/image-reference.js';
import type { RegistryClient } from '../../lib/registry/client.js';
import type { DeltaRebuilder, Rebuilt } from './delta/rebuild.js';

export type ImageEngine = Pick<Engine, 'inspectImage' | 'listImages' | 'loadImage'>;

/** How far the delivery of one image is; `source` says whether it comes as delta patches or whole layers. */
export interface ImageProgress {
  image: string;
  source: 'delta' | 'full';
  bytesDone: number;
  bytesTotal: number;
  percent: number;
}

export interface FetchResult {
  image: string;
  /** What to create containers from. */
  localRef: string;
  imageId: string;
  /** Bytes the image needed from the registry (config + layers the engine lacked). */
  neededBytes: number;
  /** Bytes received over the network for it, retries and corrupt bytes included. */
  fetchedBytes: number;
  /** Bytes that were on disk from an earlier, interrupted attempt. */
  resumedBytes: number;
  layersSkipped: number;
  /** Layers rebuilt from delta patches instead of downloaded (absent: none). */
  layersPatched?: number;
  digestMismatches: number;
}

export interface ImageFetcherOptions {
  engine: ImageEngine;
  registry: RegistryClient;
  store: BlobStore;
  /** The device's bandwidth cap, shared by every download. */
  bucket: TokenBucket;
  platform?: Platform;
  log: Logger;
  retry?: BackoffPolicy;
  idleTimeoutMs?: number;
  /** Rebuilds layers from the registry's delta patches (images/delta/); absent: whole layers only. */
  deltas?: DeltaRebuilder;
}

/** The platform Node runs on, in registry terms. */
export function hostPlatform(): Platform {
  switch (process.arch) {
    case 'arm64':
      return { os: 'linux', architecture: 'arm64', variant: 'v8' };
    case 'arm':
      return { os: 'linux', architecture: 'arm', variant: 'v7' };
    case 'x64':
      return { os: 'linux', architecture: 'amd64' };
    case 'ia32':
      return { os: 'linux', architecture: '386' };
    default:
      return { os: 'linux', architecture: process.arch };
  }
}

/** The index entry for `platform`: same os and architecture, the same variant preferred, else one without. */
export function pickPlatform<T extends { platform?: Platform }>(entries: T[], platform: Platform): T | undefined {
  const candidates = entries.filter(
    (m) => m.platform?.os === platform.os && m.platform.architecture === platform.architecture,
  );
  return (
    candidates.find((m) => m.platform?.variant === platform.variant) ??
    candidates.find((m) => m.platform?.variant === undefined) ??
    (platform.architecture === 'arm64' ? candidates[0] : undefined)
  );
}

/** Percent with one decimal, rounded down: 100 only once every byte is there. */
function percentOf(done: number, total: number): number {
  return Math.floor((done / Math.max(1, total)) * 1000) / 10;
}

export class ImageFetcher {
  private readonly inFlight = new Map<string, ImageProgress>();

  constructor(private readonly options: ImageFetcherOptions) {}

  /** Images being delivered right now. */
  progress(): ImageProgress[] {
    return [...this.inFlight.values()].map((p) => ({ ...p }));
  }

  /**
   * Makes the engine have `image` (REGISTRY/REPO@sha256:...); returns at once if it has it already. Images are
   * delivered one at a time: images of a release share layers (a base image), and two deliveries at once would
   * write and then delete the same blob files under each other. One at a time also lets the second image skip the
   * layers the first just loaded, and the link is shared through one bandwidth cap anyway.
   */
  fetch(image: string, signal?: AbortSignal): Promise<FetchResult> {
    const turn = this.queue.then(() => {
      signal?.throwIfAborted();
      return this.fetchNow(image, signal);
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private queue: Promise<unknown> = Promise.resolve();

  private async fetchNow(image: string, signal?: AbortSignal): Promise<FetchResult> {
    const { engine, log } = this.options;
    const present = await resolveLocalImage(engine, image);
    if (present !== undefined) {
      const info = await engine.inspectImage(present);
      return {
        image,
        localRef: present,
        imageId: info?.id ?? '',
        neededBytes: 0,
        fetchedBytes: 0,
        resumedBytes: 0,
        layersSkipped: 0,
        digestMismatches: 0,
      };
    }
    const ref = parseDigestReference(image);
    const started = Date.now();
    const manifest = await this.manifestFor(ref, signal);
    const result = await this.deliver(image, ref, manifest, signal);
    log.info(
      {
        image,
        imageId: result.imageId,
        neededBytes: result.neededBytes,
        fetchedBytes: result.fetchedBytes,
        resumedBytes: result.resumedBytes,
        layersSkipped: result.layersSkipped,
        ms: Date.now() - started,
      },
      'image delivered',
    );
    return result;
  }

  private async manifestFor(ref: DigestReference, signal?: AbortSignal): Promise<ImageManifest> {
    const where = `${ref.registry}/${ref.repository}`;
    const top = await this.options.registry.getManifest(ref, ref.digest, signal);
    const doc: unknown = JSON.parse(top.body.toString('utf8'));
    const mediaType =
      top.mediaType || (typeof doc === 'object' && doc !== null && 'mediaType' in doc ? String(doc.mediaType) : '');
    if (mediaType === MEDIA_TYPES.dockerManifestList || mediaType === MEDIA_TYPES.ociIndex) {
      const index = parse(ImageIndexSchema, doc, `manifest list ${where}@${ref.digest}`);
      const platform = this.options.platform ?? hostPlatform();
      const entry = pickPlatform(index.manifests, platform);
      if (entry === undefined) {
        const offered = index.manifests.map(
          (m) =>
            `${m.platform?.os ?? '?'}/${m.platform?.architecture ?? '?'}${m.platform?.variant === undefined ? '' : `/${m.platform.variant}`}`,
        );
        throw new Error(
          `${where}@${ref.digest} has no image for ${platform.os}/${platform.architecture}${platform.variant === undefined ? '' : `/${platform.variant}`} (offers ${offered.join(', ')})`,
        );
      }
      const chosen = await this.options.registry.getManifest(ref, entry.digest, signal);
      return parse(ImageManifestSchema, JSON.parse(chosen.body.toString('utf8')), `manifest ${where}@${entry.digest}`);
    }
    return parse(ImageManifestSchema, doc, `manifest ${where}@${ref.digest}`);
  }

  /** Layer chains the engine has: a layer can be left out of the archive only if its whole chain below matches. */
  private async localChains(): Promise<Set<string>> {
    const { engine } = this.options;
    const chains = new Set<string>();
    for (const summary of await engine.listImages()) {
      const info = await engine.inspectImage(summary.id);
      if (info === undefined) continue;
      for (let i = 1; i <= info.diffIds.length; i++) chains.add(info.diffIds.slice(0, i).join(','));
    }
    return chains;
  }

  private async deliver(
    image: string,
    ref: DigestReference,
    manifest: ImageManifest,
    signal?: AbortSignal,
  ): Promise<FetchResult> {
    const { store, engine } = this.options;
    const tally = { fetchedBytes: 0, resumedBytes: 0, digestMismatches: 0 };
    const progress: ImageProgress = {
      image,
      source: 'full',
      bytesDone: 0,
      bytesTotal: manifest.config.size,
      percent: 0,
    };
    this.inFlight.set(image, progress);
    try {
      await this.download(ref, manifest.config, tally, () => undefined, signal);
      const config = parse(
        ImageConfigSchema,
        JSON.parse(await readFile(store.pathOf(manifest.config.digest), 'utf8')),
        `image config ${manifest.config.digest}`,
      );
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== manifest.layers.length) {
        throw new Error(
          `${image}: the manifest lists ${manifest.layers.length} layers, its config ${diffIds.length} diff_ids`,
        );
      }
      const chains = await this.localChains();
      const missingAt = manifest.layers.map((_, i) => i).filter((i) => !chains.has(diffIds.slice(0, i + 1).join(',')));
      // Delta path: layers rebuilt from patches are not downloaded; any failure of the rebuilt image falls back to
      // whole layers below.
      const rebuilt = await this.rebuildFromDeltas(
        ref,
        manifest.config.digest,
        new Map(missingAt.map((i) => [i, diffIds[i]!])),
        progress,
        signal,
      );
      tally.fetchedBytes += rebuilt.fetchedBytes;
      tally.resumedBytes += rebuilt.resumedBytes;
      tally.digestMismatches += rebuilt.digestMismatches;
      // --- end delta path ---
      const missing = missingAt.filter((i) => !rebuilt.layers.has(i)).map((i) => manifest.layers[i]!);
      progress.bytesTotal = manifest.config.size + rebuilt.patchBytes + missing.reduce((sum, l) => sum + l.size, 0);
      let doneBefore = manifest.config.size + rebuilt.patchBytes;
      const update = (done: number): void => {
        progress.bytesDone = doneBefore + done;
        progress.percent = percentOf(progress.bytesDone, progress.bytesTotal);
      };
      update(0);
      for (const layer of missing) {
        await this.download(ref, layer, tally, update, signal);
        doneBefore += layer.size;
        update(0);
      }
      const localRef = localImageRef(image);
      const load = async (patched: Map<number, string>): Promise<string | undefined> => {
        const layerFile = (l: Descriptor, i: number): ArchiveFile => {
          const path = patched.get(i);
          return path === undefined
            ? { name: `${hexOf(l.digest)}.layer`, source: { path: store.pathOf(l.digest) } }
            : { name: `${hexOf(diffIds[i]!)}.tar`, source: { path } };
        };
        const files: ArchiveFile[] = [
          {
            name: 'manifest.json',
            source: {
              bytes: Buffer.from(
                JSON.stringify([
                  {
                    Config: `${hexOf(manifest.config.digest)}.json`,
                    RepoTags: [localRef],
                    Layers: manifest.layers.map((l, i) => layerFile(l, i).name),
                  },
                ]),
              ),
            },
          },
          { name: `${hexOf(manifest.config.digest)}.json`, source: { path: store.pathOf(manifest.config.digest) } },
          ...missingAt.map((i) => layerFile(manifest.layers[i]!, i)),
        ];
        await engine.loadImage(dockerArchive(files));
        return (await engine.inspectImage(localRef))?.id;
      };
      let loadedId: string | undefined;
      try {
        loadedId = await load(rebuilt.layers).catch((err: unknown) => {
          if (rebuilt.layers.size === 0) throw err;
          this.options.log.warn({ image, err }, 'loading the image rebuilt from patches failed');
          return undefined;
        });
        if (loadedId !== manifest.config.digest && rebuilt.layers.size > 0) {
          // The patched image is not the release's: fetch the rebuilt layers whole and load again.
          this.options.log.warn(
            { image, loaded: loadedId ?? 'none', expected: manifest.config.digest },
            "image rebuilt from patches is not the release's: pulling whole layers",
          );
          progress.source = 'full';
          for (const i of rebuilt.layers.keys()) {
            const layer = manifest.layers[i]!;
            progress.bytesTotal += layer.size;
            await this.download(ref, layer, tally, update, signal);
            doneBefore += layer.size;
            missing.push(layer);
          }
          loadedId = await load(new Map());
        }
      } finally {
        await rebuilt.dispose();
      }
      if (loadedId !== manifest.config.digest) {
        throw new Error(
          `${image}: loading gave image ${loadedId ?? 'none'} under ${localRef}, expected ${manifest.config.digest}`,
        );
      }
      const loaded = { id: loadedId };
      await Promise.all([manifest.config, ...missing].map((d) => store.remove(d.digest)));
      return {
        image,
        localRef,
        imageId: loaded.id,
        neededBytes: progress.bytesTotal,
        ...tally,
        layersSkipped: manifest.layers.length - missingAt.length,
        layersPatched: progress.source === 'delta' ? rebuilt.layers.size : 0,
      };
    } finally {
      this.inFlight.delete(image);
    }
  }

  /** Layers the delta rebuilder could make from patches (none without a rebuilder or patches). */
  private async rebuildFromDeltas(
    ref: DigestReference,
    configDigest: string,
    needed: Map<number, string>,
    progress: ImageProgress,
    signal?: AbortSignal,
  ): Promise<Rebuilt> {
    const none: Rebuilt = {
      layers: new Map(),
      patchBytes: 0,
      fetchedBytes: 0,
      resumedBytes: 0,
      digestMismatches: 0,
      dispose: () => Promise.resolve(),
    };
    if (this.options.deltas === undefined || needed.size === 0) return none;
    // While patches come in, the total is what they weigh: whole layers are counted once the rebuild says which.
    const base = progress.bytesTotal;
    const rebuilt = await this.options.deltas.rebuild({
      ref,
      configDigest,
      needed,
      signal,
      onProgress: (bytes, total) => {
        progress.source = 'delta';
        progress.bytesTotal = base + total;
        progress.bytesDone = base + bytes;
        progress.percent = percentOf(progress.bytesDone, progress.bytesTotal);
      },
    });
    progress.source = rebuilt.layers.size > 0 ? 'delta' : 'full';
    return rebuilt;
  }

  private async download(
    ref: DigestReference,
    blob: Descriptor,
    tally: { fetchedBytes: number; resumedBytes: number; digestMismatches: number },
    onDone: (bytes: number) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const { registry, store, bucket, log, retry, idleTimeoutMs } = this.options;
    const result = await store.fetch(registry.blobUrl(ref, blob.digest), {
      digest: blob.digest,
      size: blob.size,
      bucket,
      get: registry.getter(ref),
      signal,
      retry,
      idleTimeoutMs,
      log,
      onProgress: (p) => onDone(p.done),
    });
    if (result === null) return;
    tally.fetchedBytes += result.fetchedBytes;
    tally.resumedBytes += result.resumedFrom;
    tally.digestMismatches += result.digestMismatches;
  }
}

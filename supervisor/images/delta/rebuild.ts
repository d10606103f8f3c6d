// The device side of deltas: layers an image needs are rebuilt from layers the engine has plus small patches, instead
// of being downloaded whole. Patches come through the same resumable, capped downloader as layers; the base layers
// come out of the engine (`docker save`); each result must hash to the diffID the image's config names. Whatever
// cannot be rebuilt (no patch, no base layer, a tool failing, a result with the wrong hash) is simply not in the
// answer: the fetcher downloads those layers whole.
import { mkdir, mkdtemp, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../../lib/logger.js';
import { messageOf } from '../../../lib/errors.js';
import type { LayerPatch } from '../../../protocol/delta.js';
import type { BackoffPolicy } from '../../../lib/backoff.js';
import type { BlobStore } from '../download/blob-store.js';
import type { TokenBucket } from '../bandwidth/token-bucket.js';
import type { Engine } from '../../engine/engine.js';
import type { DigestReference } from '../../../protocol/image-reference.js';
import type { RegistryClient } from '../../../lib/registry/client.js';
import { applyPatch } from './apply-patch.js';
import { patchesFor } from './delta-index.js';
import { extractLayers, fileNameOf } from './docker-save.js';

export type DeltaEngine = Pick<Engine, 'listImages' | 'inspectImage' | 'saveImages'>;

export interface DeltaRebuilderOptions {
  engine: DeltaEngine;
  registry: RegistryClient;
  store: BlobStore;
  bucket: TokenBucket;
  /** Scratch space for base and rebuilt layer tars (on the same disk as the blob store). */
  workDir: string;
  log: Logger;
  retry?: BackoffPolicy;
  idleTimeoutMs?: number;
  /** Corrupt complete downloads of one patch before its layer is pulled whole instead (PATCH_DIGEST_ATTEMPTS). */
  patchDigestAttempts?: number;
  /** Told each patch's digest before it is downloaded: patches travel as registry blobs, counted as deltas. */
  onPatch?: (digest: string) => void;
}

/** A patch that keeps arriving corrupt costs more than its layer soon: three tries, then the whole layer. */
export const PATCH_DIGEST_ATTEMPTS = 3;

export interface RebuildRequest {
  ref: DigestReference;
  configDigest: string;
  /** diffIDs of the layers to rebuild, by their index in the image. */
  needed: Map<number, string>;
  signal?: AbortSignal;
  /** Patch bytes held so far of `total`, the patches chosen (called once with 0 before the first byte). */
  onProgress?: (bytes: number, total: number) => void;
}

export interface Rebuilt {
  /** Index -> uncompressed layer tar, ready for the load archive. */
  layers: Map<number, string>;
  /** Patch bytes the rebuilt layers cost (what replaced their full download). */
  patchBytes: number;
  fetchedBytes: number;
  resumedBytes: number;
  digestMismatches: number;
  /** Removes the rebuilt files and scratch space (after the load). */
  dispose(): Promise<void>;
}

export class DeltaRebuilder {
  constructor(private readonly options: DeltaRebuilderOptions) {}

  /** diffID -> an image ID holding it, over every image the engine has. */
  private async localLayers(): Promise<Map<string, string>> {
    const { engine } = this.options;
    const holders = new Map<string, string>();
    for (const summary of await engine.listImages()) {
      const info = await engine.inspectImage(summary.id);
      for (const diffId of info?.diffIds ?? []) if (!holders.has(diffId)) holders.set(diffId, summary.id);
    }
    return holders;
  }

  /** Never throws for a delta problem: what fails is missing from the answer and downloaded whole. */
  async rebuild(request: RebuildRequest): Promise<Rebuilt> {
    const { log, store } = this.options;
    const where = `${request.ref.registry}/${request.ref.repository}@${request.ref.digest}`;
    const result: Rebuilt = {
      layers: new Map(),
      patchBytes: 0,
      fetchedBytes: 0,
      resumedBytes: 0,
      digestMismatches: 0,
      dispose: () => Promise.resolve(),
    };
    let patches: LayerPatch[];
    try {
      patches = await patchesFor(this.options.registry, request.ref, request.configDigest, request.signal);
    } catch (err) {
      log.warn({ image: where, err: messageOf(err) }, 'delta patches unavailable: pulling whole layers');
      return result;
    }
    if (patches.length === 0) return result;
    const holders = await this.localLayers();
    // Per needed layer, the smallest patch from a layer the engine has.
    const chosen = new Map<number, LayerPatch>();
    for (const [index, toDiffId] of request.needed) {
      const usable = patches
        .filter((p) => p.toDiffId === toDiffId && holders.has(p.fromDiffId))
        .sort((a, b) => a.size - b.size);
      if (usable[0] !== undefined) chosen.set(index, usable[0]);
    }
    if (chosen.size === 0) return result;
    await mkdir(this.options.workDir, { recursive: true });
    const work = await mkdtemp(path.join(this.options.workDir, 'rebuild-'));
    result.dispose = () => rm(work, { recursive: true, force: true });
    try {
      let done = 0;
      let total = [...new Set(chosen.values())].reduce((sum, p) => sum + p.size, 0);
      request.onProgress?.(0, total);
      for (const patch of new Set(chosen.values())) {
        try {
          await this.download(request, patch, result, (bytes) => request.onProgress?.(done + bytes, total));
          done += patch.size;
        } catch (err) {
          if (request.signal?.aborted === true) throw err;
          // This patch only: its layers come whole, the other patches still count.
          log.warn(
            { image: where, patch: patch.digest, err: messageOf(err) },
            'patch download failed: pulling its layer whole',
          );
          for (const [index, p] of chosen) if (p === patch) chosen.delete(index);
          total -= patch.size;
          request.onProgress?.(done, total);
        }
      }
      if (chosen.size === 0) return result;
      const bases = new Set([...chosen.values()].map((p) => p.fromDiffId));
      const images = [...new Set([...bases].map((d) => holders.get(d)!))];
      const extracted = await extractLayers(await this.options.engine.saveImages(images), bases, work);
      for (const [index, patch] of chosen) {
        const base = extracted.get(patch.fromDiffId);
        if (base === undefined) {
          log.warn(
            { image: where, layer: index, fromDiffId: patch.fromDiffId },
            "base layer not in the engine's export: pulling the layer whole",
          );
          continue;
        }
        const out = path.join(work, `rebuilt-${fileNameOf(patch.toDiffId)}`);
        try {
          await applyPatch({
            tool: patch.tool,
            base,
            patch: store.pathOf(patch.digest),
            out,
            toDiffId: patch.toDiffId,
          });
          result.layers.set(index, out);
          result.patchBytes += patch.size;
        } catch (err) {
          log.warn(
            { image: where, layer: index, patch: patch.digest, err: messageOf(err) },
            'patch did not rebuild the layer: pulling it whole',
          );
        }
      }
      await Promise.all([...extracted.values()].map((f) => unlink(f).catch(() => undefined)));
      await Promise.all([...new Set(chosen.values())].map((p) => store.remove(p.digest)));
    } catch (err) {
      if (request.signal?.aborted === true) {
        await result.dispose();
        throw err;
      }
      log.warn({ image: where, err: messageOf(err) }, 'delta rebuild failed: pulling whole layers');
      result.layers.clear();
      result.patchBytes = 0;
    }
    return result;
  }

  private async download(
    request: RebuildRequest,
    patch: LayerPatch,
    tally: Rebuilt,
    onBytes: (bytes: number) => void,
  ): Promise<void> {
    const { registry, store, bucket, log, retry, idleTimeoutMs } = this.options;
    this.options.onPatch?.(patch.digest);
    const fetched = await store.fetch(registry.blobUrl(request.ref, patch.digest), {
      digest: patch.digest,
      size: patch.size,
      bucket,
      get: registry.getter(request.ref),
      signal: request.signal,
      retry,
      idleTimeoutMs,
      log,
      maxDigestMismatches: this.options.patchDigestAttempts ?? PATCH_DIGEST_ATTEMPTS,
      onProgress: (p) => onBytes(p.done),
    });
    if (fetched === null) return;
    tally.fetchedBytes += fetched.fetchedBytes;
    tally.resumedBytes += fetched.resumedFrom;
    tally.digestMismatches += fetched.digestMismatches;
  }
}

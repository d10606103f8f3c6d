// Delta generation for one target image: for every layer a device lacks, a binary patch from the layer at the same
// place in an image devices run now (a source), computed between the uncompressed tars, kept only when it is a small
// enough share of the compressed layer, and stored as the target's delta artifact (protocol/delta.ts) in the
// target's repository. Multi-platform targets get one artifact per platform image (each has its own config digest).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from '../../../lib/logger.js';
import { messageOf } from '../../../lib/errors.js';
import {
  EMPTY_CONFIG,
  deltaManifestOf,
  deltaTagOf,
  patchesOf,
  DeltaManifestSchema,
  type LayerPatch,
} from '../../../protocol/delta.js';
import {
  ImageConfigSchema,
  ImageIndexSchema,
  ImageManifestSchema,
  MEDIA_TYPES,
  type ImageManifest,
  type Platform,
} from '../../../protocol/oci-image.js';
import { parse } from '../../../protocol/validate.js';
import { parseDigestReference } from '../../../protocol/image-reference.js';
import type { RegistryClient, RepositoryRef } from '../../../lib/registry/client.js';
import { fetchLayerTar } from './layer-file.js';
import { makePatch, toolFor } from './patch-tool.js';

export interface DeltaSettings {
  /** A patch larger than this share of the compressed layer is dropped: the device pulls the layer. */
  maxShare: number;
  /** zstd level. */
  level?: number;
}

export const DEFAULT_DELTA_SETTINGS: DeltaSettings = { maxShare: 0.5, level: 19 };

export interface SkippedLayer {
  toDiffId: string;
  reason: string;
}

export interface ImageDeltas {
  /** REGISTRY/REPO, and the config digest the artifact is tagged after. */
  repository: string;
  configDigest: string;
  /** Null when no patch was worth storing (nothing was written). */
  tag: string | null;
  patches: LayerPatch[];
  skipped: SkippedLayer[];
}

interface ResolvedImage {
  ref: RepositoryRef;
  platform: Platform | undefined;
  manifest: ImageManifest;
  configDigest: string;
  diffIds: string[];
}

function sameplatform(a: Platform | undefined, b: Platform | undefined): boolean {
  return (
    a === undefined ||
    b === undefined ||
    (a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? ''))
  );
}

/** Every platform image a reference names (one for a plain manifest), with its config's diffIDs. */
async function resolve(io: RegistryClient, reference: string): Promise<ResolvedImage[]> {
  const parsed = parseDigestReference(reference);
  const ref: RepositoryRef = { registry: parsed.registry, repository: parsed.repository };
  const top = await io.manifest(ref, parsed.digest);
  if (top === null) throw new Error(`image ${reference} is not in its registry`);
  const doc: unknown = JSON.parse(top.body.toString('utf8'));
  const kind =
    top.mediaType !== ''
      ? top.mediaType
      : typeof doc === 'object' && doc !== null && 'mediaType' in doc
        ? String(doc.mediaType)
        : '';
  const entries: { platform: Platform | undefined; body: unknown; where: string }[] = [];
  if (kind === MEDIA_TYPES.dockerManifestList || kind === MEDIA_TYPES.ociIndex) {
    const index = parse(ImageIndexSchema, doc, `manifest list ${reference}`);
    for (const entry of index.manifests) {
      const child = await io.manifest(ref, entry.digest);
      if (child === null) throw new Error(`${reference} lists ${entry.digest}, which its registry does not have`);
      entries.push({
        platform: entry.platform,
        body: JSON.parse(child.body.toString('utf8')),
        where: `${reference} -> ${entry.digest}`,
      });
    }
  } else {
    entries.push({ platform: undefined, body: doc, where: reference });
  }
  const images: ResolvedImage[] = [];
  for (const entry of entries) {
    const manifest = parse(ImageManifestSchema, entry.body, `manifest ${entry.where}`);
    const config = parse(
      ImageConfigSchema,
      JSON.parse((await io.blobBytes(ref, manifest.config.digest)).toString('utf8')),
      `config of ${entry.where}`,
    );
    if (config.rootfs.diff_ids.length !== manifest.layers.length) {
      throw new Error(`${entry.where}: ${manifest.layers.length} layers but ${config.rootfs.diff_ids.length} diff_ids`);
    }
    const platform =
      entry.platform ??
      (config.os !== undefined && config.architecture !== undefined
        ? { os: config.os, architecture: config.architecture }
        : undefined);
    images.push({ ref, platform, manifest, configDigest: manifest.config.digest, diffIds: config.rootfs.diff_ids });
  }
  return images;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** Layer tars fetched once per run, by diffID. */
class TarCache {
  private readonly files = new Map<string, Promise<{ path: string; size: number }>>();

  constructor(
    private readonly io: RegistryClient,
    private readonly dir: string,
  ) {}

  get(image: ResolvedImage, index: number): Promise<{ path: string; size: number }> {
    const diffId = image.diffIds[index]!;
    let file = this.files.get(diffId);
    if (file === undefined) {
      const layer = image.manifest.layers[index]!;
      const target = path.join(this.dir, diffId.replace(':', '-'));
      file = fetchLayerTar(
        this.io,
        image.ref,
        { mediaType: layer.mediaType, digest: layer.digest, diffId },
        target,
      ).then((size) => ({ path: target, size }));
      this.files.set(diffId, file);
    }
    return file;
  }
}

/** The delta artifact already stored for a config digest (an earlier run, other sources): its patches are kept. */
async function storedPatches(
  io: RegistryClient,
  ref: RepositoryRef,
  configDigest: string,
  log: Logger,
): Promise<LayerPatch[]> {
  const stored = await io.manifest(ref, deltaTagOf(configDigest));
  if (stored === null) return [];
  try {
    return patchesOf(
      parse(
        DeltaManifestSchema,
        JSON.parse(stored.body.toString('utf8')),
        `delta artifact ${deltaTagOf(configDigest)}`,
      ),
    );
  } catch (err) {
    log.warn(
      { repository: ref.repository, configDigest, err: messageOf(err) },
      'stored delta artifact is unreadable: replacing it',
    );
    return [];
  }
}

/**
 * Computes and stores the patches that turn `sources` (images devices run) into `target`. Never throws for one bad
 * pair: a layer without a patch is reported as skipped, and the device pulls it whole.
 */
export async function generateImageDeltas(
  io: RegistryClient,
  target: string,
  sources: readonly string[],
  settings: DeltaSettings,
  log: Logger,
): Promise<ImageDeltas[]> {
  const targets = await resolve(io, target);
  const sourceImages: ResolvedImage[] = [];
  for (const source of sources) {
    try {
      sourceImages.push(...(await resolve(io, source)));
    } catch (err) {
      log.warn(
        { target, source, err: messageOf(err) },
        'delta source image unavailable: its devices will pull whole layers',
      );
    }
  }
  const work = await mkdtemp(path.join(tmpdir(), 'skiff-delta-'));
  try {
    const cache = new TarCache(io, work);
    const results: ImageDeltas[] = [];
    for (const image of targets) {
      const bases = sourceImages.filter((s) => sameplatform(s.platform, image.platform));
      const present = new Set(bases.flatMap((s) => s.diffIds));
      const patches = await storedPatches(io, image.ref, image.configDigest, log);
      const known = new Set(patches.map((p) => `${p.fromDiffId}>${p.toDiffId}`));
      const fresh: LayerPatch[] = [];
      const skipped: SkippedLayer[] = [];
      for (const [i, toDiffId] of image.diffIds.entries()) {
        // A layer every source has is never downloaded by a device running it.
        if (present.has(toDiffId)) continue;
        const layer = image.manifest.layers[i]!;
        const candidates = bases.filter((s) => i < s.diffIds.length && !known.has(`${s.diffIds[i]}>${toDiffId}`));
        if (bases.every((s) => i >= s.diffIds.length))
          skipped.push({ toDiffId, reason: 'no source image has a layer at this place' });
        const seen = new Set<string>();
        for (const source of candidates) {
          const fromDiffId = source.diffIds[i]!;
          if (seen.has(fromDiffId)) continue;
          seen.add(fromDiffId);
          try {
            const base = await cache.get(source, i);
            const wanted = await cache.get(image, i);
            const tool = toolFor(base.size);
            const out = path.join(work, `patch-${fresh.length}-${skipped.length}`);
            await makePatch({ tool, base, target: wanted, out, level: settings.level });
            const size = (await stat(out)).size;
            if (size > settings.maxShare * layer.size) {
              skipped.push({
                toDiffId,
                reason: `patch from ${fromDiffId} is ${size} bytes, over ${settings.maxShare} of the ${layer.size}-byte layer`,
              });
              continue;
            }
            const digest = await sha256File(out);
            await io.pushBlob(image.ref, digest, { path: out });
            fresh.push({ fromDiffId, toDiffId, tool, digest, size, toSize: wanted.size });
          } catch (err) {
            skipped.push({ toDiffId, reason: `patch from ${fromDiffId} failed: ${messageOf(err)}` });
          }
        }
      }
      const all = [...patches, ...fresh];
      let tag: string | null = null;
      if (fresh.length > 0) {
        tag = deltaTagOf(image.configDigest);
        await io.pushBlob(image.ref, EMPTY_CONFIG.digest, { bytes: Buffer.from(EMPTY_CONFIG.bytes) });
        const manifest = deltaManifestOf(all, { 'io.skiff.delta.target': image.configDigest });
        await io.putManifest(image.ref, tag, manifest.mediaType, Buffer.from(JSON.stringify(manifest)));
      } else if (patches.length > 0) {
        tag = deltaTagOf(image.configDigest);
      }
      results.push({
        repository: `${image.ref.registry}/${image.ref.repository}`,
        configDigest: image.configDigest,
        tag,
        patches: all,
        skipped,
      });
      log.info(
        {
          target,
          configDigest: image.configDigest,
          patches: fresh.length,
          patchBytes: fresh.reduce((s, p) => s + p.size, 0),
          skipped: skipped.length,
        },
        'delta patches stored',
      );
    }
    return results;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

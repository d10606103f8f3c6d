// Removing the images of old releases once an update has converged. The images of the release that runs and of
// the one before it stay, so a rollback needs no download; older releases' images go unless a container still
// uses them. Which images belong to which release is kept in DATA_DIR/image-history.json (newest last), because
// the engine does not know: Skiff's fetcher tags an image REGISTRY/REPO:sha256-HEX (local-image.ts), an engine pull
// records the digest reference, and either may be shared by several releases.
import { readFile } from 'node:fs/promises';
import { Type, type Static } from '@sinclair/typebox';
import type { TargetState } from '../../protocol/target-state.js';
import { parse } from '../../protocol/validate.js';
import { canonicalJson } from '../../protocol/canonical-json.js';
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import { writeFileAtomic } from '../device/atomic-file.js';
import type { CurrentState } from '../reconcile/current-state.js';
import { imagesOf } from '../plan/desired-state.js';
import type { Engine, EngineImageSummary } from '../engine/engine.js';
import { resolveLocalImage } from './local-image.js';

export const IMAGE_HISTORY_FILE = 'image-history.json';

/** Releases whose images are kept: the running one and the one before it. */
export const RELEASES_KEPT = 2;

export const HistorySchema = Type.Array(
  Type.Object({
    /** The release id, or the image list itself for a target without a release. */
    release: Type.String(),
    images: Type.Array(Type.String()),
  }),
);
type History = Static<typeof HistorySchema>;

/** An image Skiff's fetcher loaded (tagged REGISTRY/REPO:sha256-HEX); only such images are removed to make room. */
export function isSkiffImage(image: Pick<EngineImageSummary, 'repoTags'>): boolean {
  return image.repoTags.some((t) => /:sha256-[a-f0-9]{64}$/.test(t));
}

export function releaseKey(target: TargetState): string {
  return target.release?.id ?? canonicalJson(imagesOf(target));
}

/** The history with `release` as the newest entry (moved there if it ran before), and the entries that fall out. */
export function recordRelease(
  history: History,
  release: string,
  images: string[],
): { kept: History; dropped: History } {
  const next = [...history.filter((h) => h.release !== release), { release, images: [...images].sort() }];
  const cut = Math.max(0, next.length - RELEASES_KEPT);
  return { kept: next.slice(cut), dropped: next.slice(0, cut) };
}

export class ImageCleanup {
  constructor(
    private readonly file: string,
    private readonly engine: Pick<Engine, 'inspectImage' | 'removeImage'>,
    private readonly log: Logger,
  ) {}

  async history(): Promise<History> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new Error(`cannot read ${this.file}: ${messageOf(err)}`, { cause: err });
    }
    try {
      return parse(HistorySchema, JSON.parse(text), this.file);
    } catch (err) {
      // A damaged history only costs a later clean-up: start a new one rather than stop updating.
      this.log.warn({ file: this.file, err: messageOf(err) }, 'image history unreadable: starting a new one');
      return [];
    }
  }

  /**
   * After `target` converged: records its images and removes those of releases before the previous one that
   * neither a kept release, a container nor `alsoKeep` (the fleet's target while in local mode) uses. An image still in use stays in the history for the next time.
   */
  async afterConverged(
    current: CurrentState,
    target: TargetState,
    alsoKeep: readonly string[] = [],
  ): Promise<string[]> {
    const before = await this.history();
    const { kept, dropped } = recordRelease(before, releaseKey(target), imagesOf(target));
    const keep = new Set([...kept.flatMap((h) => h.images), ...current.containers.map((c) => c.image), ...alsoKeep]);
    const removed: string[] = [];
    const retry: History = [];
    for (const entry of dropped) {
      const stays: string[] = [];
      for (const image of entry.images.filter((i) => !keep.has(i))) {
        const local = await resolveLocalImage(this.engine, image);
        if (local === undefined || keep.has(local)) continue;
        const outcome = await this.engine.removeImage(local);
        if (outcome === 'in-use') stays.push(image);
        if (outcome === 'removed') removed.push(image);
      }
      if (stays.length > 0) retry.push({ release: entry.release, images: stays });
    }
    const history = [...retry, ...kept];
    if (canonicalJson(history) !== canonicalJson(before))
      await writeFileAtomic(this.file, `${JSON.stringify(history, null, 2)}\n`);
    if (removed.length > 0) this.log.info({ release: releaseKey(target), removed }, 'images of old releases removed');
    return removed;
  }
}

// Whether the images a plan fetches fit on the disk, and what to remove first if they do not. Pure: the facts
// (free bytes, what each image needs, what can be removed) are gathered by the reconciler before it plans.
//
// What an image needs: the registry's manifest lists each layer's compressed size; layers the engine already has
// (matched by the uncompressed digest the image config lists) cost nothing. A pull keeps the compressed download
// while it unpacks it next to it, and gzip'd layers of binaries and libraries unpack to about twice their size, so
// a layer needs about UNPACK_FACTOR times its compressed size at the peak. RESERVE_BYTES stays free on top: a
// device whose disk fills up loses its logs, its database and often its ability to boot.
// The supervisor's own data directory is a second place: the blobs are downloaded there (compressed, complete
// before the engine loads them), and its state files (the persisted target, config.json) live there too. On a Pi
// it is often a small data partition apart from the engine's disk. What the missing blobs still need there, plus
// DATA_RESERVE_BYTES so a new target can always be written (a pin to a smaller release must still get through),
// must fit in its free space, or the update is not begun and the reason is reported.
import { byCodePoint } from '../../lib/code-point-order.js';

export const UNPACK_FACTOR = 3;
export const RESERVE_BYTES = 64 * 1024 * 1024;
/** Kept free in the supervisor's data directory for its state files (targets are a few kB; a few MB in bulk). */
export const DATA_RESERVE_BYTES = 1024 * 1024;

export interface RemovableImage {
  /** Engine image id (sha256:...). */
  id: string;
  /** Bytes the engine counts for it (shared layers counted in full, so an upper bound of what removal frees). */
  bytes: number;
}

export interface DiskFacts {
  /** The filesystem holding the engine's data root. */
  path: string;
  freeBytes: number;
  /** Per missing image reference: bytes it needs on disk; null when its manifest could not be read. */
  needs: Record<string, number | null>;
  /** Images no container uses and no target service names: removable to make room. */
  unused: RemovableImage[];
  /** Bytes of the images containers use, by the reference they were created from. */
  inUse: Record<string, number>;
  /** The supervisor's download directory, when it can be measured. */
  download?: DownloadFacts;
}

export interface DownloadFacts {
  /** The directory blobs are downloaded to. */
  path: string;
  freeBytes: number;
  /** Per missing image reference: bytes its blobs still need there (what is held already is not counted). */
  needs: Record<string, number | null>;
}

export type RoomVerdict =
  | { kind: 'fits' }
  /** Remove these first; the next plan measures again. */
  | { kind: 'reclaim'; remove: RemovableImage[] }
  | { kind: 'short'; message: string };

const MB = 1024 * 1024;

function mb(bytes: number): string {
  return `${Math.ceil(bytes / MB)} MB`;
}

export function bytesNeeded(images: string[], facts: DiskFacts): number {
  return images.reduce((sum, image) => sum + (facts.needs[image] ?? 0), 0);
}

/**
 * Whether `images` fit, else which unused images to remove (largest first, only as many as needed), else why not.
 * `laterFreed` is what the update frees on its own before these images are needed (old images a
 * delete-then-download service gives up).
 */
export function roomFor(images: string[], facts: DiskFacts, laterFreed = 0): RoomVerdict {
  // Removing engine images frees nothing in the download directory: checked first, on its own.
  const download = facts.download;
  if (download !== undefined) {
    const downloadNeed = images.reduce((sum, image) => sum + (download.needs[image] ?? 0), 0);
    if (downloadNeed > 0 && downloadNeed + DATA_RESERVE_BYTES > download.freeBytes) {
      return {
        kind: 'short',
        message:
          `not enough space in the supervisor's download directory for the update: its images need ` +
          `${mb(downloadNeed)} more there (+${mb(DATA_RESERVE_BYTES)} kept free), ` +
          `${mb(download.freeBytes)} free in ${download.path}`,
      };
    }
  }
  const need = bytesNeeded(images, facts);
  if (need === 0) return { kind: 'fits' };
  const missing = need + RESERVE_BYTES - facts.freeBytes;
  if (missing <= 0) return { kind: 'fits' };
  const remove: RemovableImage[] = [];
  let freed = 0;
  for (const image of [...facts.unused].sort((a, b) => b.bytes - a.bytes || byCodePoint(a.id, b.id))) {
    if (freed >= missing) break;
    remove.push(image);
    freed += image.bytes;
  }
  if (freed + laterFreed >= missing) return remove.length > 0 ? { kind: 'reclaim', remove } : { kind: 'fits' };
  const removable = facts.unused.reduce((sum, i) => sum + i.bytes, 0);
  return {
    kind: 'short',
    message:
      `not enough disk space for the update: it needs ${mb(need)} (+${mb(RESERVE_BYTES)} kept free), ` +
      `${mb(facts.freeBytes)} free on ${facts.path}` +
      (removable + laterFreed > 0
        ? `, ${mb(removable + laterFreed)} more after removing unused and replaced images`
        : ''),
  };
}

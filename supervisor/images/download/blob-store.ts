// Registry blobs on the device while an image is being delivered: complete blobs under sha256/, downloads in
// progress under partial/ (resumed by the next attempt, in this process or the next). Blobs are removed once the
// engine has loaded the image that needed them.
// A complete blob is checked again (size, then sha256) each time a delivery would use it rather than fetch it: a
// file verified once can still be damaged later (a flash card's bad block, a power cut during the rename on a
// file system without ordered data), and trusted as is it failed every `docker load` forever. A blob that does not
// match is deleted and fetched again.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, readdir, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { downloadToFile, type DownloadOptions, type DownloadResult } from './downloader.js';
import { hexOf, partialBytes } from './partial-file.js';

export class BlobStore {
  readonly partialDir: string;
  private readonly completeDir: string;

  constructor(readonly root: string) {
    this.partialDir = path.join(root, 'partial');
    this.completeDir = path.join(root, 'sha256');
  }

  pathOf(digest: string): string {
    return path.join(this.completeDir, hexOf(digest));
  }

  async has(digest: string): Promise<boolean> {
    try {
      await access(this.pathOf(digest));
      return true;
    } catch {
      return false;
    }
  }

  /** Bytes of `digest` on disk: all of it if complete, else what a partial download holds. */
  async bytesHeld(digest: string, size: number): Promise<number> {
    return (await this.has(digest)) ? size : partialBytes(this.partialDir, digest);
  }

  /** Whether the complete blob of `digest` on disk has `size` bytes (when known) and hashes to `digest`. */
  async intact(digest: string, size?: number): Promise<boolean> {
    const file = this.pathOf(digest);
    if (size !== undefined && (await stat(file)).size !== size) return false;
    const hash = createHash('sha256');
    await pipeline(createReadStream(file), hash);
    return `sha256:${hash.digest('hex')}` === digest;
  }

  /**
   * Downloads the blob unless it is complete and intact already; null when nothing had to be fetched. A complete
   * blob that is not intact is deleted first.
   */
  async fetch(url: string, options: Omit<DownloadOptions, 'partialDir'>): Promise<DownloadResult | null> {
    if (await this.has(options.digest)) {
      if (await this.intact(options.digest, options.size)) return null;
      options.log?.warn(
        { digest: options.digest, file: this.pathOf(options.digest), size: options.size },
        'a complete blob on disk does not match its digest: deleted, fetching it again',
      );
      await this.remove(options.digest);
    }
    await mkdir(this.completeDir, { recursive: true });
    return downloadToFile(url, this.pathOf(options.digest), { ...options, partialDir: this.partialDir });
  }

  async remove(digest: string): Promise<void> {
    await unlink(this.pathOf(digest)).catch(() => undefined);
  }

  /** Drops partial downloads of digests not in `keep` (a target that changed mid-download). */
  async prunePartials(keep: Set<string>): Promise<void> {
    const names = await readdir(this.partialDir).catch(() => [] as string[]);
    for (const name of names) {
      const digest = `sha256:${name.replace(/\.partial$/, '')}`;
      if (!keep.has(digest)) await rm(path.join(this.partialDir, name), { force: true });
    }
  }
}

// Registry blobs on the device while an image is being delivered: complete blobs under sha256/, downloads in
// progress under partial/ (resumed by the next attempt, in this process or the next). Blobs are removed once the
// engine has loaded the image that needed them.
import { access, mkdir, readdir, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
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

  /** Downloads the blob unless it is complete already; null when nothing had to be fetched. */
  async fetch(url: string, options: Omit<DownloadOptions, 'partialDir'>): Promise<DownloadResult | null> {
    if (await this.has(options.digest)) return null;
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

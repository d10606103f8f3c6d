// A download in progress, on disk: the bytes received so far in one file per digest, so that a cut connection, a
// supervisor restart or a power cut resumes at the last byte written instead of starting over. The file's length is
// the resume offset; the sha256 state is rebuilt by reading the file again (a local read, no network), because a
// hash state cannot be persisted. A torn tail after a power cut is caught by the final digest check.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../../../lib/errors.js';

export const SHA256_DIGEST = /^sha256:([a-f0-9]{64})$/;

export function hexOf(digest: string): string {
  const match = SHA256_DIGEST.exec(digest);
  if (match === null || match[1] === undefined)
    throw new Error(`unsupported digest '${digest}': expected sha256:<64 hex>`);
  return match[1];
}

export class PartialFile {
  private constructor(
    readonly file: string,
    private handle: FileHandle,
    private hash: Hash,
    private length: number,
    private lastSync: number,
  ) {}

  /** Opens (or creates) the partial file for `digest` in `dir` and rebuilds the hash of what it holds. */
  static async open(dir: string, digest: string): Promise<PartialFile> {
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, `${hexOf(digest)}.partial`);
    const handle = await open(file, 'a+', 0o600);
    try {
      const hash = createHash('sha256');
      let length = 0;
      for await (const chunk of createReadStream(file)) {
        const bytes = chunk as Buffer;
        hash.update(bytes);
        length += bytes.length;
      }
      return new PartialFile(file, handle, hash, length, Date.now());
    } catch (err) {
      await handle.close();
      throw new Error(`cannot resume partial download ${file}: ${messageOf(err)}`, { cause: err });
    }
  }

  /** Bytes held, i.e. the offset to resume from. */
  get offset(): number {
    return this.length;
  }

  async append(bytes: Uint8Array): Promise<void> {
    // 'a+' appends whatever the position says, so a torn write can never leave a hole.
    await this.handle.write(bytes, 0, bytes.length, null);
    this.hash.update(bytes);
    this.length += bytes.length;
    // Make progress durable about once a second: often enough for a power cut, rare enough for an SD card.
    if (Date.now() - this.lastSync >= 1000) await this.sync();
  }

  async sync(): Promise<void> {
    await this.handle.datasync();
    this.lastSync = Date.now();
  }

  /** Throws the bytes away and starts at offset 0 (a digest mismatch, or a server that ignored the Range). */
  async reset(): Promise<void> {
    await this.handle.truncate(0);
    this.hash = createHash('sha256');
    this.length = 0;
  }

  /** sha256:HEX of the bytes held so far. */
  digest(): string {
    return `sha256:${this.hash.copy().digest('hex')}`;
  }

  /** Syncs, closes and moves the complete file to `dest` (atomically, same filesystem expected). */
  async commit(dest: string): Promise<void> {
    await this.sync();
    await this.handle.close();
    await mkdir(path.dirname(dest), { recursive: true });
    await rename(this.file, dest);
    const dir = await open(path.dirname(dest), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  /** Closes, keeping the bytes for the next attempt. */
  async close(): Promise<void> {
    await this.handle.sync().catch(() => undefined);
    await this.handle.close();
  }

  async discard(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await unlink(this.file).catch(() => undefined);
  }
}

/** Bytes already held for `digest` in `dir` (0 if none): what a restart will not fetch again. */
export async function partialBytes(dir: string, digest: string): Promise<number> {
  try {
    return (await stat(path.join(dir, `${hexOf(digest)}.partial`))).size;
  } catch {
    return 0;
  }
}

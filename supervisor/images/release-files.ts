// The files a release carries (relative binds, configs, secrets), brought onto the device as image layers are: by
// the one downloader (download/downloader.ts: the device's bandwidth cap, the update window's signal, resume,
// digest check), then written read-only into a folder per mount, named by its content (../plan/release-file-paths.ts),
// before any container that binds them is created. A folder appears whole or not at all (written aside, then
// renamed), so a crash midway leaves nothing a container could bind half-written.
//
// A secret's bytes are never logged or reported: logs name mounts by their target and files by digest only.
import { chmod, chown, copyFile, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../lib/logger.js';
import { httpRequest } from '../../lib/http-request.js';
import type { FileMount, TargetState } from '../../protocol/target-state.js';
import { fileMountDir } from '../plan/release-file-paths.js';
import type { TokenBucket } from './bandwidth/token-bucket.js';
import { downloadToFile } from './download/downloader.js';
import { hexOf } from './download/partial-file.js';

export interface ReleaseFilesOptions {
  dataDir: string;
  /** The URL of a file of the device's fleet; null while the device has no API session (offline, not provisioned). */
  urlOf: (digest: string) => string | null;
  /** The device's credentials for that URL. */
  headers: () => Record<string, string>;
  bucket?: TokenBucket;
  log: Logger;
}

/** Release files in the data directory: blobs by digest, mount folders by content, state folders per service. */
export class ReleaseFiles {
  readonly filesRoot: string;
  readonly stateRoot: string;
  private readonly blobDir: string;
  private readonly partialDir: string;

  constructor(private readonly options: ReleaseFilesOptions) {
    this.filesRoot = path.join(options.dataDir, 'release-files', 'mounts');
    this.blobDir = path.join(options.dataDir, 'release-files', 'blobs');
    this.partialDir = path.join(options.dataDir, 'release-files', 'partial');
    this.stateRoot = path.join(options.dataDir, 'state');
  }

  /** Every file mount of the target written out; throws (and the pass retries) when a file cannot be had yet. */
  async ensure(target: TargetState, signal?: AbortSignal): Promise<void> {
    for (const spec of target.services) {
      for (const mount of spec.files ?? []) {
        try {
          await this.write(mount, signal);
        } catch (err) {
          throw new Error(
            `service '${spec.name}': cannot provide the ${mount.kind} mounted at ${mount.target}: ${err instanceof Error ? err.message : String(err)}`,
            { cause: err },
          );
        }
      }
    }
  }

  private async write(mount: FileMount, signal?: AbortSignal): Promise<void> {
    const dir = fileMountDir(this.filesRoot, mount);
    if (await exists(dir)) return;
    for (const file of mount.files) await this.blob(file.digest, file.size, signal);
    const aside = `${dir}.partial`;
    await rm(aside, { recursive: true, force: true });
    const base = mount.directory ? path.join(aside, 'dir') : aside;
    await mkdir(base, { recursive: true });
    for (const file of mount.files) {
      const to = mount.directory ? path.join(base, ...file.path.split('/')) : path.join(aside, 'file');
      // The schema refuses '.' and '..' segments; checked again here, as this is where a path would do harm.
      if (path.relative(aside, to).startsWith('..')) throw new Error(`file path '${file.path}' leaves its folder`);
      await mkdir(path.dirname(to), { recursive: true });
      await copyFile(this.blobPath(file.digest), to);
      await chmod(to, mount.mode);
      if (mount.uid !== undefined || mount.gid !== undefined) await chown(to, mount.uid ?? 0, mount.gid ?? 0);
    }
    if (mount.directory) await readOnlyFolders(base, mount);
    await rename(aside, dir);
    this.options.log.info(
      { kind: mount.kind, target: mount.target, files: mount.files.length },
      'release files written',
    );
  }

  private blobPath(digest: string): string {
    return path.join(this.blobDir, hexOf(digest));
  }

  private async blob(digest: string, size: number, signal?: AbortSignal): Promise<void> {
    const dest = this.blobPath(digest);
    if (await exists(dest)) return;
    const url = this.options.urlOf(digest);
    if (url === null)
      throw new Error(`file ${digest.slice(0, 19)}… is not on the device and the API is not reachable yet`);
    await mkdir(this.blobDir, { recursive: true });
    await downloadToFile(url, dest, {
      digest,
      size,
      partialDir: this.partialDir,
      get: (u, headers, s) => httpRequest(u, { headers: { ...headers, ...this.options.headers() }, signal: s }),
      ...(this.options.bucket === undefined ? {} : { bucket: this.options.bucket }),
      ...(signal === undefined ? {} : { signal }),
      log: this.options.log,
      // The API has no other copy to offer: a file that keeps arriving corrupt is an error to report, not a loop.
      maxDigestMismatches: 3,
    });
  }
}

/** Folders of a mount: readable and searchable by whoever may read its files, writable by no one. */
async function readOnlyFolders(base: string, mount: FileMount): Promise<void> {
  // Search permission wherever the mode grants read (0444 -> 0555, 0400 -> 0500).
  const folderMode = mount.mode | ((mount.mode & 0o444) >> 2);
  const visit = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }))
      if (entry.isDirectory()) await visit(path.join(dir, entry.name));
    await chmod(dir, folderMode & 0o555);
    if (mount.uid !== undefined || mount.gid !== undefined) await chown(dir, mount.uid ?? 0, mount.gid ?? 0);
  };
  await visit(base);
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

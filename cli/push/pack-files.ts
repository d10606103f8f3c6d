// The project files a release carries (relative binds, configs, secrets), read on the developer's machine: each
// file hashed into a content-addressed blob, within the size limits a release has, none from outside the compose
// file's folder (a symlink that leads out is refused, as the device could not have the file it points at).
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  MAX_RELEASE_FILE_BYTES,
  MAX_RELEASE_FILES_TOTAL_BYTES,
  type LocalSource,
  type LocalSources,
  type PackedFile,
} from '../../protocol/compose/files.js';
import { MAX_FILES_PER_MOUNT } from '../../protocol/target-state.js';

/** What a push packed: the facts the API normalises with, and where each blob's bytes are. */
export interface PackedProject {
  /** The normaliser's view of the project folder; records every path it is asked about. */
  sources: LocalSources;
  /** Project path to what is there, for the release request. */
  facts(): Record<string, LocalSource>;
  /** Digest to the file holding its bytes. */
  blobs(): ReadonlyMap<string, string>;
}

/** Thrown for a file a release cannot carry; names it and says what is allowed. */
export class PackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PackError';
  }
}

function kib(bytes: number): string {
  return `${Math.round(bytes / 1024)} KiB`;
}

export function packProject(dir: string): PackedProject {
  const root = realpathSync(dir);
  const facts = new Map<string, LocalSource>();
  const blobs = new Map<string, string>();
  const sizes = new Map<string, number>();

  const inside = (file: string, shown: string): string => {
    const real = realpathSync(file);
    if (real !== root && !real.startsWith(`${root}${path.sep}`)) {
      throw new PackError(
        `'${shown}' leads outside the compose file's folder (to ${real}); a release carries only that folder's files`,
      );
    }
    return real;
  };

  const blob = (file: string, shown: string): { digest: string; size: number } => {
    const size = statSync(file).size;
    if (size > MAX_RELEASE_FILE_BYTES) {
      throw new PackError(
        `'${shown}' is ${kib(size)}; a file a release carries is at most ${kib(MAX_RELEASE_FILE_BYTES)} ` +
          '(configuration, not data: put larger files in the image or a volume)',
      );
    }
    const content = readFileSync(file);
    const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
    blobs.set(digest, file);
    sizes.set(digest, content.length);
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    if (total > MAX_RELEASE_FILES_TOTAL_BYTES) {
      throw new PackError(
        `with '${shown}' the release's files add up to ${kib(total)}; a release carries at most ` +
          `${kib(MAX_RELEASE_FILES_TOTAL_BYTES)} of files`,
      );
    }
    return { digest, size: content.length };
  };

  const folder = (real: string, shown: string): PackedFile[] => {
    const files: PackedFile[] = [];
    const walk = (current: string, prefix: string): void => {
      for (const name of readdirSync(current).sort()) {
        const full = path.join(current, name);
        const relative = prefix === '' ? name : `${prefix}/${name}`;
        const here = `${shown}/${relative}`;
        const target = lstatSync(full).isSymbolicLink() ? inside(full, here) : full;
        const stat = statSync(target);
        if (stat.isDirectory()) walk(target, relative);
        else if (stat.isFile()) {
          if (files.length >= MAX_FILES_PER_MOUNT)
            throw new PackError(`'${shown}' holds more than ${MAX_FILES_PER_MOUNT} files, the most one mount carries`);
          files.push({ path: relative, ...blob(target, here) });
        } else throw new PackError(`'${here}' is neither a file nor a folder; a release carries files only`);
      }
    };
    walk(real, '');
    return files;
  };

  const sources: LocalSources = (projectPath) => {
    const known = facts.get(projectPath);
    if (known !== undefined) return known;
    const shown = `./${projectPath}`;
    const full = path.join(root, projectPath);
    let found: LocalSource;
    try {
      lstatSync(full);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      found = { kind: 'missing' };
      facts.set(projectPath, found);
      return found;
    }
    const real = inside(full, shown);
    const stat = statSync(real);
    if (stat.isDirectory()) found = { kind: 'directory', files: folder(real, shown) };
    else if (stat.isFile()) found = { kind: 'file', ...blob(real, shown) };
    else throw new PackError(`'${shown}' is neither a file nor a folder; a release carries files only`);
    facts.set(projectPath, found);
    return found;
  };

  return {
    sources,
    facts: () => Object.fromEntries(facts),
    blobs: () => blobs,
  };
}

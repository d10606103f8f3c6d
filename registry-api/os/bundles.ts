// Where host OS bundles are kept: files named by their sha256 under one directory (SKIFF_DATA_DIR/os-bundles). An
// upload is streamed to a temporary file there and hashed while it is written, so a bundle of gigabytes never sits
// in memory; only a complete, checked upload is renamed to its final name.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Rauc, RaucError } from '../../lib/rauc.js';

export interface OsBundleSettings {
  /** The directory bundles are kept in. */
  dir: string;
  /**
   * CA certificate (PEM) bundles must be signed by (SKIFF_OS_BUNDLE_KEYRING): every upload is checked with
   * `rauc info` (signature, compatible, version) before it is kept. Null: uploads are refused, because an
   * unchecked upload lets any file (`/etc/passwd`) become a host OS release that every device then downloads
   * only to refuse it.
   */
  keyring: string | null;
  /** Larger uploads are refused. */
  maxBytes: number;
}

export const DEFAULT_MAX_BUNDLE_BYTES = 4 * 1024 ** 3;

export class BundleTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`the bundle is larger than ${maxBytes} bytes`);
    this.name = 'BundleTooLargeError';
  }
}

/** An upload on disk under its temporary name, hashed. */
export interface ReceivedBundle {
  tempFile: string;
  digest: string;
  size: number;
}

/** Streams `body` to a temporary file in the bundle dir, hashing as it goes; removes the file on any failure. */
export async function receiveBundle(settings: OsBundleSettings, body: Readable): Promise<ReceivedBundle> {
  await mkdir(settings.dir, { recursive: true, mode: 0o700 });
  const tempFile = path.join(settings.dir, `.upload-${randomBytes(8).toString('hex')}`);
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > settings.maxBytes) {
        done(new BundleTooLargeError(settings.maxBytes));
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(body, meter, createWriteStream(tempFile, { mode: 0o600 }));
  } catch (err) {
    await rm(tempFile, { force: true });
    throw err;
  }
  return { tempFile, digest: `sha256:${hash.digest('hex')}`, size };
}

/** What `rauc info` says about a bundle whose signature checks out against the keyring. */
export interface CheckedManifest {
  compatible: string;
  version: string | null;
}

export class BundleRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BundleRefusedError';
  }
}

/** Reads the manifest with `rauc info --keyring`; a bad signature is a BundleRefusedError with RAUC's words. */
export async function checkBundle(keyring: string, file: string): Promise<CheckedManifest> {
  try {
    return await new Rauc({ keyring }).info(file);
  } catch (err) {
    if (err instanceof RaucError) throw new BundleRefusedError(`rauc info refused the bundle: ${err.reason}`);
    throw err;
  }
}

export function bundleFileName(digest: string): string {
  return `${digest.replace(/^sha256:/, '')}.raucb`;
}

export function bundlePath(settings: Pick<OsBundleSettings, 'dir'>, file: string): string {
  return path.join(settings.dir, path.basename(file));
}

/** Moves a checked upload to its content-addressed name; the same bytes uploaded twice are kept once. */
export async function keepBundle(settings: OsBundleSettings, received: ReceivedBundle): Promise<string> {
  const file = bundleFileName(received.digest);
  await rename(received.tempFile, bundlePath(settings, file));
  return file;
}

/** The size of a kept bundle, or null when its file is gone (deleted by hand, a lost disk). */
export async function bundleSize(settings: Pick<OsBundleSettings, 'dir'>, file: string): Promise<number | null> {
  try {
    return (await stat(bundlePath(settings, file))).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

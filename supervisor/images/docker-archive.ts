// A `docker load` archive written as a stream: manifest.json, the image config and the layer files, in plain
// ustar. Layers may stay gzip-compressed (the engine decompresses on load) and layers the engine already has may be
// left out (it finds them by chain ID), so the archive is built straight from downloaded registry blobs without
// unpacking anything. Hand-written because it is ~50 lines and no tar writer is a direct dependency.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';

export interface ArchiveFile {
  /** Name inside the archive (at most 100 bytes, no directories needed). */
  name: string;
  /** File on disk, or the bytes themselves. */
  source: { path: string } | { bytes: Buffer };
}

const BLOCK = 512;

function field(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar header field '${value}' is longer than ${length} bytes`);
  bytes.copy(header, offset);
}

function octal(value: number, length: number): string {
  return `${value.toString(8).padStart(length - 1, '0')}\0`;
}

export function tarHeader(name: string, size: number, mtimeSeconds: number): Buffer {
  const header = Buffer.alloc(BLOCK);
  field(header, 0, 100, name);
  field(header, 100, 8, octal(0o644, 8));
  field(header, 108, 8, octal(0, 8));
  field(header, 116, 8, octal(0, 8));
  if (size >= 8 ** 11) throw new Error(`file ${name} of ${size} bytes is too large for a ustar archive`);
  field(header, 124, 12, octal(size, 12));
  field(header, 136, 12, octal(mtimeSeconds, 12));
  header.fill(' ', 148, 156);
  field(header, 156, 1, '0');
  field(header, 257, 6, 'ustar\0');
  field(header, 263, 2, '00');
  let sum = 0;
  for (const byte of header) sum += byte;
  field(header, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return header;
}

async function* archiveChunks(files: ArchiveFile[]): AsyncGenerator<Buffer> {
  const mtime = Math.floor(Date.now() / 1000);
  for (const file of files) {
    const size = 'bytes' in file.source ? file.source.bytes.length : (await stat(file.source.path)).size;
    yield tarHeader(file.name, size, mtime);
    if ('bytes' in file.source) {
      yield file.source.bytes;
    } else {
      let written = 0;
      for await (const chunk of createReadStream(file.source.path)) {
        const bytes = chunk as Buffer;
        written += bytes.length;
        yield bytes;
      }
      if (written !== size)
        throw new Error(`${file.source.path} changed size while it was archived (${size} -> ${written} bytes)`);
    }
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad > 0) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(2 * BLOCK);
}

export function dockerArchive(files: ArchiveFile[]): Readable {
  return Readable.from(archiveChunks(files), { objectMode: false });
}

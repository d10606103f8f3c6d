// Reading a tar stream entry by entry without holding an entry in memory: enough of ustar, pax ('x': path) and GNU
// long names ('L') for what `docker save` writes. Hand-written because the project has no tar reader as a direct
// dependency and the supervisor only needs regular files by name; the body of each entry must be read (or left)
// before the next one is asked for.
import type { Readable } from 'node:stream';

const BLOCK = 512;

class ByteReader {
  private chunks: Buffer[] = [];
  private held = 0;
  private ended = false;
  private readonly source: AsyncIterator<Buffer>;

  constructor(stream: Readable) {
    this.source = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  /** True once `n` bytes are held; false if the stream ended first. */
  async fill(n: number): Promise<boolean> {
    while (this.held < n && !this.ended) {
      const next = await this.source.next();
      if (next.done === true) this.ended = true;
      else {
        this.chunks.push(next.value);
        this.held += next.value.length;
      }
    }
    return this.held >= n;
  }

  take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = all.length > n ? [all.subarray(n)] : [];
    this.held = all.length - n;
    return all.subarray(0, n);
  }

  /** Up to `n` bytes as they arrive. */
  async *pieces(n: number, what: string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.held === 0 && !(await this.fill(1)))
        throw new Error(`tar stream ended inside ${what} (${left} of ${n} bytes missing)`);
      const first = this.chunks[0]!;
      const piece = first.length > left ? first.subarray(0, left) : first;
      if (piece === first) this.chunks.shift();
      else this.chunks[0] = first.subarray(left);
      this.held -= piece.length;
      left -= piece.length;
      yield piece;
    }
  }

  async skip(n: number, what: string): Promise<void> {
    for await (const piece of this.pieces(n, what)) void piece;
  }

  async readAll(n: number, what: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const piece of this.pieces(n, what)) parts.push(piece);
    return Buffer.concat(parts);
  }
}

function text(header: Buffer, offset: number, length: number): string {
  const field = header.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? length : end).toString('utf8');
}

function sizeOf(header: Buffer, name: string): number {
  const field = header.subarray(124, 136);
  // GNU base-256 for sizes of 8 GiB and more: a set high bit, then big-endian bytes.
  if ((field[0]! & 0x80) !== 0) {
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const digits = text(header, 124, 12).trim();
  const value = digits === '' ? 0 : parseInt(digits, 8);
  if (!Number.isSafeInteger(value)) throw new Error(`tar entry ${name}: unreadable size field '${digits}'`);
  return value;
}

function checksumOk(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum === parseInt(text(header, 148, 8).trim(), 8);
}

/** pax records: "LEN key=value\n". */
function paxPath(body: Buffer): string | undefined {
  let found: string | undefined;
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    if (space === -1) break;
    const length = Number(body.subarray(at, space).toString('ascii'));
    if (!Number.isSafeInteger(length) || length <= 0) break;
    const record = body.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (record.slice(0, eq) === 'path') found = record.slice(eq + 1);
    at += length;
  }
  return found;
}

export interface TarEntry {
  name: string;
  /** '0' regular file, '2' symlink, '5' directory, ... */
  type: string;
  size: number;
  /** The entry's bytes; read at most once, before asking for the next entry. */
  body: AsyncIterable<Buffer>;
}

/** The entries of the tar `stream`, in order. Unread bodies are skipped. */
export async function* readTar(stream: Readable): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(stream);
  let longName: string | undefined;
  for (;;) {
    if (!(await reader.fill(BLOCK))) return;
    const header = reader.take(BLOCK);
    if (header.every((b) => b === 0)) return;
    if (!checksumOk(header))
      throw new Error(`tar stream: header with a bad checksum (entry name '${text(header, 0, 100)}')`);
    const magic = text(header, 257, 6);
    const prefix = magic.startsWith('ustar') ? text(header, 345, 155) : '';
    const plain = prefix === '' ? text(header, 0, 100) : `${prefix}/${text(header, 0, 100)}`;
    const name = longName ?? plain;
    longName = undefined;
    const size = sizeOf(header, name);
    const type = String.fromCharCode(header[156]!) === '\0' ? '0' : String.fromCharCode(header[156]!);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (type === 'x' || type === 'L') {
      const body = await reader.readAll(size, `the extended header of ${name}`);
      longName = type === 'x' ? paxPath(body) : body.toString('utf8').replace(/\0+$/, '');
      await reader.skip(pad, 'padding');
      continue;
    }
    let started = false;
    let read = 0;
    async function* counted(): AsyncGenerator<Buffer> {
      for await (const piece of reader.pieces(size, `entry ${name}`)) {
        read += piece.length;
        yield piece;
      }
    }
    const body: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: () => {
        if (started) throw new Error(`tar entry ${name}: body read twice`);
        started = true;
        return counted()[Symbol.asyncIterator]();
      },
    };
    yield { name, type, size, body };
    // Whatever the reader left of the body.
    await reader.skip(size - read, `entry ${name}`);
    await reader.skip(pad, 'padding');
  }
}

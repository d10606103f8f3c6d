// @ts-check
// Readings not delivered yet, kept in order in a file on the readings volume so that neither an outage nor a
// restart loses them: append-only JSON lines, plus a cursor file with the byte offset of the first line not yet
// delivered. Bounded: when full, the oldest undelivered readings make room for new ones.
// Delivery is at least once: a crash between a send and the cursor update sends that batch again.
import fs from 'node:fs';
import path from 'node:path';

/** @typedef {import('./log.mjs').Log} Log */
/** @typedef {{ records: unknown[], lines: number, end: number }} Batch */

const LF = 0x0a;
/** One reading is a few hundred bytes; anything this large is not one. */
const MAX_LINE_BYTES = 64 * 1024;
/** How much one peek reads; batches are small, the file may not be. */
const PEEK_BYTES = 256 * 1024;

export class ReadingBuffer {
  #file;
  #cursorFile;
  #maxBytes;
  #log;
  /** Bytes in the file. */
  #size = 0;
  /** Offset of the first undelivered line. */
  #offset = 0;
  /** Undelivered lines. */
  #pending = 0;

  /** @param {{ file: string, maxBytes: number, log: Log }} options */
  constructor(options) {
    this.#file = options.file;
    this.#cursorFile = `${options.file}.cursor`;
    this.#maxBytes = options.maxBytes;
    this.#log = options.log;
    fs.mkdirSync(path.dirname(this.#file), { recursive: true });
    this.#load();
  }

  /** Readings waiting to be delivered. */
  get pending() {
    return this.#pending;
  }

  /** @param {unknown} record */
  append(record) {
    const line = `${JSON.stringify(record)}\n`;
    const bytes = Buffer.byteLength(line);
    if (bytes > MAX_LINE_BYTES) {
      this.#log.error('reading too large to buffer; dropped', { bytes });
      return;
    }
    if (this.#size + bytes > this.#maxBytes) this.#makeRoom(bytes);
    fs.appendFileSync(this.#file, line);
    this.#size += bytes;
    this.#pending += 1;
  }

  /**
   * The oldest undelivered readings, at most `max`, without removing them. Damaged lines (a disk error) are
   * counted in `lines` but not returned, so consuming the batch skips them.
   * @param {number} max
   * @returns {Batch}
   */
  peek(max) {
    if (this.#pending === 0) return { records: [], lines: 0, end: this.#offset };
    const chunk = Buffer.alloc(Math.min(this.#size - this.#offset, PEEK_BYTES));
    const fd = fs.openSync(this.#file, 'r');
    try {
      fs.readSync(fd, chunk, 0, chunk.length, this.#offset);
    } finally {
      fs.closeSync(fd);
    }
    /** @type {unknown[]} */
    const records = [];
    let pos = 0;
    let lines = 0;
    while (lines < max) {
      const nl = chunk.indexOf(LF, pos);
      if (nl < 0) break;
      const text = chunk.toString('utf8', pos, nl);
      pos = nl + 1;
      lines += 1;
      try {
        records.push(JSON.parse(text));
      } catch {
        this.#log.warn('skipping a damaged line in the readings buffer', {
          file: this.#file,
          excerpt: text.slice(0, 80),
        });
      }
    }
    return { records, lines, end: this.#offset + pos };
  }

  /**
   * Marks a peeked batch delivered.
   * @param {Batch} batch
   */
  consume(batch) {
    this.#offset = batch.end;
    this.#pending = Math.max(0, this.#pending - batch.lines);
    if (this.#offset >= this.#size) {
      // Everything delivered: the cheap and common case, an empty file.
      this.#writeCursor(0);
      fs.truncateSync(this.#file, 0);
      this.#size = 0;
      this.#offset = 0;
    } else {
      this.#writeCursor(this.#offset);
      if (this.#offset > this.#maxBytes / 2) this.#rewrite(this.#undelivered());
    }
  }

  #load() {
    let data;
    try {
      data = fs.readFileSync(this.#file);
    } catch (err) {
      if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'ENOENT') throw err;
      data = Buffer.alloc(0);
    }
    // A power cut mid-append leaves a line without its end: it was never complete, so it goes.
    const end = data.lastIndexOf(LF) + 1;
    if (end < data.length) {
      this.#log.warn('cut a torn line off the end of the readings buffer', {
        file: this.#file,
        bytes: data.length - end,
      });
      fs.truncateSync(this.#file, end);
      data = data.subarray(0, end);
    }
    this.#size = data.length;
    let offset = this.#readCursor();
    if (offset > data.length || (offset > 0 && data[offset - 1] !== LF)) {
      // A cursor that does not fit the file: resend everything rather than skip anything.
      this.#log.warn('readings buffer cursor does not match the file; delivering it all again', {
        file: this.#file,
        offset,
      });
      offset = 0;
    }
    this.#offset = offset;
    this.#pending = countLines(data.subarray(offset));
    if (this.#pending > 0) this.#log.info('readings left from before are waiting', { pending: this.#pending });
  }

  /** @param {number} bytes room needed for the next line */
  #makeRoom(bytes) {
    const rest = this.#undelivered();
    // Free a tenth more than needed so a full buffer is not rewritten on every append.
    const keep = this.#maxBytes * 0.9 - bytes;
    let cut = 0;
    let dropped = 0;
    while (rest.length - cut > keep) {
      const nl = rest.indexOf(LF, cut);
      if (nl < 0) break;
      cut = nl + 1;
      dropped += 1;
    }
    this.#rewrite(rest.subarray(cut));
    this.#pending = Math.max(0, this.#pending - dropped);
    if (dropped > 0) {
      this.#log.warn('readings buffer full: dropped the oldest readings', { dropped, maxBytes: this.#maxBytes });
    }
  }

  #undelivered() {
    return fs.readFileSync(this.#file).subarray(this.#offset);
  }

  /**
   * Replaces the file with `rest` (undelivered lines only). The cursor is reset first: a crash in between
   * resends readings, never skips them.
   * @param {Buffer} rest
   */
  #rewrite(rest) {
    this.#writeCursor(0);
    const tmp = `${this.#file}.tmp`;
    fs.writeFileSync(tmp, rest);
    fs.renameSync(tmp, this.#file);
    this.#size = rest.length;
    this.#offset = 0;
  }

  #readCursor() {
    try {
      const n = Number(fs.readFileSync(this.#cursorFile, 'utf8').trim());
      return Number.isSafeInteger(n) && n >= 0 ? n : 0;
    } catch {
      return 0;
    }
  }

  /** @param {number} offset */
  #writeCursor(offset) {
    const tmp = `${this.#cursorFile}.tmp`;
    fs.writeFileSync(tmp, `${offset}\n`);
    fs.renameSync(tmp, this.#cursorFile);
  }
}

/** @param {Buffer} data */
function countLines(data) {
  let n = 0;
  for (let i = data.indexOf(LF); i >= 0; i = data.indexOf(LF, i + 1)) n += 1;
  return n;
}

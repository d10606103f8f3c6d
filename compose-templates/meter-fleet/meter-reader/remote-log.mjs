// @ts-check
// Copies log lines to the fleet's logger service over TCP, one syslog-style line each: "<PRI>tag: message".
// Logging must never stall or crash the meter reader, so lines wait in a small bounded queue while the logger
// is away (oldest dropped first) and the connection is retried in the background.
import net from 'node:net';

/** @typedef {import('./log.mjs').Level} Level */

/** syslog severities (RFC 5424), facility user (1). */
/** @type {Record<Level, number>} */
const PRI = { error: 8 + 3, warn: 8 + 4, info: 8 + 6, debug: 8 + 7 };

export class RemoteLogSink {
  /** @type {string[]} */
  #queue = [];
  /** @type {net.Socket | null} */
  #socket = null;
  #connected = false;
  #closed = false;
  #retryMs = 1000;
  #dropped = 0;
  #opts;

  /** @param {{ host: string, port: number, tag: string, maxQueued?: number }} opts */
  constructor(opts) {
    this.#opts = opts;
    this.#connect();
  }

  /** @param {Level} level @param {string} line */
  send(level, line) {
    if (this.#closed) return;
    this.#queue.push(`<${PRI[level]}>${this.#opts.tag}: ${line.replace(/\n/g, ' ')}\n`);
    if (this.#queue.length > (this.#opts.maxQueued ?? 500)) {
      this.#queue.shift();
      this.#dropped++;
    }
    this.#drain();
  }

  /** Sends what is queued if connected, then closes; never waits longer than `ms`. */
  async close(ms = 500) {
    this.#closed = true;
    const socket = this.#socket;
    if (!socket) return;
    if (this.#connected) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        socket.end(() => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
    }
    socket.destroy();
  }

  #connect() {
    if (this.#closed) return;
    const socket = net.createConnection({ host: this.#opts.host, port: this.#opts.port });
    this.#socket = socket;
    socket.unref();
    socket.on('connect', () => {
      this.#connected = true;
      this.#retryMs = 1000;
      if (this.#dropped > 0) {
        this.#queue.unshift(
          `<${PRI.warn}>${this.#opts.tag}: ${this.#dropped} log lines dropped while the logger was unreachable\n`,
        );
        this.#dropped = 0;
      }
      this.#drain();
    });
    socket.on('drain', () => this.#drain());
    socket.on('error', () => {
      /* 'close' follows; the console log already has every line */
    });
    socket.on('close', () => {
      this.#connected = false;
      this.#socket = null;
      if (this.#closed) return;
      setTimeout(() => this.#connect(), this.#retryMs).unref();
      this.#retryMs = Math.min(this.#retryMs * 2, 30_000);
    });
  }

  #drain() {
    if (!this.#connected || !this.#socket) return;
    // Stop at a small socket backlog: a slow logger then costs the bounded queue, not unbounded memory.
    while (this.#queue.length > 0 && this.#socket.writableLength < 64 * 1024) {
      const line = /** @type {string} */ (this.#queue.shift());
      this.#socket.write(line);
    }
  }
}

// @ts-check
// Gets every reading to the endpoint, in order, whatever the link does. While the endpoint answers, readings go
// straight out and never touch the disk (an SD card wears). From the first failure on, every reading goes to
// the buffer file behind the ones already waiting, and the buffer is flushed oldest first with backoff until it
// is empty again; only then do readings go straight out again. That one rule keeps the order.
import { pause } from './abortable.mjs';

/** @typedef {import('./log.mjs').Log} Log */
/** @typedef {import('./poster.mjs').Post} Post */
/** @typedef {import('./poster.mjs').PostResult} PostResult */
/** @typedef {import('./buffer.mjs').ReadingBuffer} ReadingBuffer */

export class Shipper {
  /** Readings submitted while the endpoint answered, not sent yet. */
  /** @type {unknown[]} */
  #queue = [];
  /** True from a failed send until the buffer is empty again. */
  #outage;
  #outageSince = 0;
  #stopped = false;
  #stop = new AbortController();
  /** @type {AbortController | null} */
  #inFlight = null;
  /** @type {(() => void) | null} */
  #wake = null;
  /** @type {Promise<void>} */
  #loop;
  #opts;

  /**
   * @param {{ post: Post, buffer: ReadingBuffer, log: Log, batchSize?: number, retryMinMs?: number,
   *   retryMaxMs?: number }} opts
   */
  constructor(opts) {
    this.#opts = opts;
    // Readings left in the buffer by an earlier run go before anything new.
    this.#outage = opts.buffer.pending > 0;
    this.#loop = this.#run();
  }

  /** Readings waiting in the buffer file. */
  get buffered() {
    return this.#opts.buffer.pending;
  }

  /** @param {unknown} reading */
  submit(reading) {
    if (this.#outage || this.#stopped) this.#opts.buffer.append(reading);
    else this.#queue.push(reading);
    this.#wake?.();
  }

  /** Stops sending; whatever was not confirmed sent is in the buffer when this resolves. */
  async stop() {
    this.#stopped = true;
    this.#stop.abort();
    this.#inFlight?.abort();
    this.#wake?.();
    await this.#loop;
    for (const reading of this.#queue.splice(0)) this.#opts.buffer.append(reading);
  }

  async #run() {
    const { buffer, log } = this.#opts;
    const batchSize = this.#opts.batchSize ?? 100;
    const retryMinMs = this.#opts.retryMinMs ?? 1000;
    const retryMaxMs = this.#opts.retryMaxMs ?? 60_000;
    let retryMs = retryMinMs;
    let flushed = 0;
    while (!this.#stopped) {
      if (this.#outage) {
        const batch = buffer.peek(batchSize);
        if (batch.lines === 0) {
          this.#outage = false;
          log.info('buffer flushed; sending readings directly again', {
            flushed,
            outageSeconds: Math.round((Date.now() - this.#outageSince) / 1000),
          });
          flushed = 0;
          continue;
        }
        const result =
          batch.records.length === 0 ? /** @type {PostResult} */ ({ kind: 'sent' }) : await this.#send(batch.records);
        if (result.kind === 'retry') {
          log.debug('endpoint still unreachable', {
            reason: result.reason,
            buffered: buffer.pending,
            retryInMs: retryMs,
          });
          if (!(await pause(retryMs, this.#stop.signal))) break;
          retryMs = Math.min(retryMs * 2, retryMaxMs);
          continue;
        }
        if (result.kind === 'rejected') {
          log.error('endpoint rejected buffered readings; dropping them', {
            reason: result.reason,
            count: batch.records.length,
          });
        }
        buffer.consume(batch);
        flushed += batch.records.length;
        retryMs = retryMinMs;
        continue;
      }
      if (this.#queue.length === 0) {
        await new Promise((resolve) => {
          this.#wake = () => resolve(undefined);
        });
        this.#wake = null;
        continue;
      }
      const batch = this.#queue.splice(0, batchSize);
      const result = await this.#send(batch);
      if (result.kind === 'retry') {
        this.#outage = true;
        this.#outageSince = Date.now();
        if (!this.#stopped) log.warn('endpoint unreachable; buffering readings', { reason: result.reason });
        // The failed batch, then whatever queued up behind it: order kept.
        for (const reading of [...batch, ...this.#queue.splice(0)]) buffer.append(reading);
        if (!(await pause(retryMs, this.#stop.signal))) break;
        retryMs = Math.min(retryMs * 2, retryMaxMs);
      } else if (result.kind === 'rejected') {
        log.error('endpoint rejected readings; dropping them', { reason: result.reason, count: batch.length });
      }
    }
  }

  /** @param {unknown[]} records @returns {Promise<PostResult>} */
  async #send(records) {
    const inFlight = new AbortController();
    this.#inFlight = inFlight;
    try {
      return await this.#opts.post(records, inFlight.signal);
    } finally {
      this.#inFlight = null;
    }
  }
}

// Pacing for a bandwidth cap. Tokens are bytes; a download takes the tokens for a chunk before it asks for the
// chunk, so the sender never gets ahead of the cap by more than the bucket holds (measured: throttling the
// receiving stream instead lets the sender fill the socket buffers, and the first seconds run unthrottled).
// One bucket per device: every download shares the link's cap.

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** Bytes per second; null means no cap. */
export type Rate = number | null;

export class TokenBucket {
  private tokens: number;
  private last: number;
  private rate: Rate = null;
  /** Serialises takers so that a large request cannot be overtaken forever by small ones. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    rate: Rate,
    private readonly clock: Clock = realClock,
  ) {
    this.last = clock.now();
    this.tokens = 0;
    this.setRate(rate);
  }

  currentRate(): Rate {
    return this.rate;
  }

  /**
   * A new cap (e.g. a schedule period began). The bucket starts with (or keeps at most) a quarter second of the new
   * rate, so a new or lower cap holds at once: a bucket filled to its capacity would let a whole chunk through
   * before a single token had accrued, which under a cap of a few kB/s is seconds of traffic at link speed.
   */
  setRate(rate: Rate): void {
    if (rate !== null && (!Number.isFinite(rate) || rate <= 0))
      throw new Error(`bandwidth cap must be a positive number of bytes per second, got ${rate}`);
    this.refill();
    const wasUncapped = this.rate === null;
    this.rate = rate;
    if (rate !== null) this.tokens = Math.min(wasUncapped ? Infinity : this.tokens, Math.floor(rate / 4));
  }

  /**
   * The chunk a download should ask for at the current rate: a quarter second of it (so the first second stays
   * near the cap), at most 256 KiB. Below 64 kB/s a quarter second is under 16 KiB, where request headers start
   * to weigh (over 3% of the bytes); the chunk then grows towards 16 KiB but never past one second of the cap,
   * since a chunk is granted whole and a larger one would break the cap in its first second.
   */
  chunkSize(): number {
    if (this.rate === null) return UNCAPPED_CHUNK;
    const quarter = Math.floor(this.rate / 4);
    return Math.max(1, Math.min(MAX_CHUNK, Math.max(quarter, Math.min(MIN_CHUNK, Math.floor(this.rate)))));
  }

  /** Waits until `bytes` may be sent, then takes them. Uncapped: returns at once. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(() => this.takeNow(bytes, signal));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** Gives back tokens taken for bytes that never came (a cut or refused request). */
  refund(bytes: number): void {
    if (this.rate === null || bytes <= 0) return;
    this.refill();
    this.tokens = Math.min(this.capacity(), this.tokens + bytes);
  }

  private async takeNow(bytes: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      this.refill();
      if (this.rate === null) return;
      // A chunk larger than the bucket may still go once the bucket is full; it leaves a debt that the next
      // taker waits out, so the average holds.
      if (this.tokens >= Math.min(bytes, this.capacity())) {
        this.tokens -= bytes;
        return;
      }
      const missing = Math.min(bytes, this.capacity()) - this.tokens;
      await this.clock.sleep(Math.max(1, Math.ceil((missing / this.rate) * 1000)), signal);
    }
  }

  private capacity(): number {
    return this.rate === null ? Infinity : Math.max(this.chunkSize(), Math.floor(this.rate / 4));
  }

  private refill(): void {
    const now = this.clock.now();
    const elapsed = Math.max(0, now - this.last) / 1000;
    this.last = now;
    if (this.rate !== null) this.tokens = Math.min(this.capacity(), this.tokens + elapsed * this.rate);
  }
}

const MIN_CHUNK = 16 * 1024;
const MAX_CHUNK = 256 * 1024;
/** Without a cap one request per resume checkpoint is enough; cuts keep what arrived anyway. */
const UNCAPPED_CHUNK = 64 * 1024 * 1024;

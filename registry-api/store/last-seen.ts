// Devices' last contact by target polls, written behind. Every device polls every interval, so writing last_seen
// on each poll would turn the API's busiest read into a write, and no poll could be answered from memory
// (poll-fast-path.ts). Polls note the time here; one batched UPDATE every FLUSH_EVERY_MS writes what was noted, never
// moving a stored time backwards (a state report may have written a later one meanwhile). Reads of devices through
// this store flush first, so what an operator sees through one instance includes every poll that instance
// answered; a poll answered by another instance shows within FLUSH_EVERY_MS. A crash loses at most that much
// contact, which the device's next poll restores: "online" allows three poll intervals plus 30 s (device-summary.ts).
import type { Database } from './sql/database.js';

export const FLUSH_EVERY_MS = 5_000;
/** Devices per UPDATE statement: two parameters each, far below SQLite's and PostgreSQL's limits. */
const ROWS_PER_STATEMENT = 250;

export class LastSeenBuffer {
  private pending = new Map<string, number>();
  private writing: Promise<void> | null = null;
  private readonly timer: NodeJS.Timeout;

  /** `failed` hears of every failed write; what it held stays noted for the next flush. */
  constructor(
    private readonly db: Database,
    private readonly failed: (err: unknown) => void,
    everyMs = FLUSH_EVERY_MS,
  ) {
    this.timer = setInterval(() => {
      this.flush().catch(failed);
    }, everyMs);
    this.timer.unref();
  }

  /** Notes a contact of `uuid` at `atMs` (ms since the epoch); a later note of the same device wins. */
  note(uuid: string, atMs: number): void {
    const known = this.pending.get(uuid);
    if (known === undefined || atMs > known) this.pending.set(uuid, atMs);
  }

  /** Writes everything noted so far; one write at a time, a flush during a write waits for it and then writes. */
  async flush(): Promise<void> {
    while (this.writing !== null) await this.writing.catch(() => undefined);
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.writing = this.write(batch)
      .catch((err: unknown) => {
        for (const [uuid, atMs] of batch) this.note(uuid, atMs);
        throw err;
      })
      .finally(() => {
        this.writing = null;
      });
    await this.writing;
  }

  /** Flushes, reporting a failure to `failed` instead of throwing: for reads, which go on with what is stored. */
  async flushQuietly(): Promise<void> {
    await this.flush().catch(this.failed);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async write(batch: ReadonlyMap<string, number>): Promise<void> {
    const rows = [...batch].map(([uuid, atMs]) => [uuid, new Date(atMs).toISOString()] as const);
    for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
      // One statement at a time with a turn of the event loop between: SQLite runs on this thread, and one
      // statement for 10,000 devices would hold every poll up for tens of milliseconds. Each statement stands on
      // its own; a failure keeps the whole batch noted, and writing a time twice is harmless.
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
      // VALUES names its columns column1, column2 in both SQLite and PostgreSQL. ISO times of one format compare as
      // text.
      await this.db.run(
        `UPDATE devices SET last_seen = v.column2 FROM (VALUES ${chunk.map(() => '(?, ?)').join(', ')}) AS v
          WHERE devices.uuid = v.column1 AND (devices.last_seen IS NULL OR devices.last_seen < v.column2)`,
        chunk.flat(),
      );
    }
  }
}

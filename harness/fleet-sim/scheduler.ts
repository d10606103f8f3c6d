// One timer for a whole simulated fleet: every device's next poll, report, end of an update or of an offline spell
// is an entry in one binary min-heap ordered by when it is due, and a single setTimeout waits for the earliest. Ten
// thousand devices cost ten thousand small heap entries, not ten thousand Node timers.

interface Entry {
  dueMs: number;
  /** Ties break by insertion order, so entries due at once run in the order they were scheduled. */
  seq: number;
  run: () => void;
}

export class Scheduler {
  private readonly heap: Entry[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerDueMs = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.heap.length;
  }

  /** Runs `run` once `dueMs` (on the scheduler's clock) has come; a time in the past runs at the next turn. */
  at(dueMs: number, run: () => void): void {
    if (this.stopped) return;
    this.push({ dueMs, seq: this.seq++, run });
    this.arm();
  }

  after(delayMs: number, run: () => void): void {
    this.at(this.now() + delayMs, run);
  }

  /** Drops every pending entry; nothing runs after this. */
  stop(): void {
    this.stopped = true;
    this.heap.length = 0;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    const first = this.heap[0];
    if (first === undefined || this.stopped) return;
    if (this.timer !== null && this.timerDueMs <= first.dueMs) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerDueMs = first.dueMs;
    this.timer = setTimeout(() => this.fire(), Math.max(0, first.dueMs - this.now()));
  }

  private fire(): void {
    this.timer = null;
    this.timerDueMs = Number.POSITIVE_INFINITY;
    const now = this.now();
    // Bounded per turn so a burst of due entries cannot starve the sockets' I/O callbacks.
    for (let n = 0; n < 2_000; n++) {
      const first = this.heap[0];
      if (first === undefined || first.dueMs > now || this.stopped) break;
      this.pop();
      first.run();
    }
    this.arm();
  }

  private less(a: Entry, b: Entry): boolean {
    return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.seq < b.seq);
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Entry;
      if (!this.less(entry, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && this.less(heap[right] as Entry, heap[left] as Entry) ? right : left;
      if (!this.less(heap[child] as Entry, last)) break;
      heap[i] = heap[child] as Entry;
      i = child;
    }
    heap[i] = last;
  }
}

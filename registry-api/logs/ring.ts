// The followed lines of one device, in memory: a bounded ring per service (a chatty service cannot push a quiet one's
// lines out), every line numbered in arrival order across services. Followers read "everything after number N"
// and learn of services whose lines were pushed out before they read them.
import type { DeviceLogLine } from '../../protocol/device-logs.js';

export const DEFAULT_RING_LINES = 1_000;
export const DEFAULT_RING_SERVICES = 64;

interface Entry {
  seq: number;
  line: DeviceLogLine;
}

/** A fixed-size circular buffer of one service's entries, oldest first. */
class ServiceRing {
  private readonly entries: (Entry | undefined)[];
  private start = 0;
  private size = 0;
  /** The number of the newest entry pushed out; 0: none yet. */
  lastEvicted = 0;

  constructor(private readonly capacity: number) {
    this.entries = new Array<Entry | undefined>(capacity);
  }

  push(entry: Entry): void {
    if (this.size === this.capacity) {
      this.lastEvicted = this.entries[this.start]!.seq;
      this.entries[this.start] = entry;
      this.start = (this.start + 1) % this.capacity;
      return;
    }
    this.entries[(this.start + this.size) % this.capacity] = entry;
    this.size += 1;
  }

  /** Entries numbered above `after`, oldest first. */
  after(after: number): Entry[] {
    const out: Entry[] = [];
    // Newest first until one is not new: a follower that keeps up reads only the tail.
    for (let i = this.size - 1; i >= 0; i -= 1) {
      const entry = this.entries[(this.start + i) % this.capacity]!;
      if (entry.seq <= after) break;
      out.push(entry);
    }
    return out.reverse();
  }
}

export interface RingRead {
  lines: DeviceLogLine[];
  /** Pass this as `after` next time. */
  next: number;
  /** Services with lines pushed out that the reader had not read. */
  gaps: string[];
}

export class DeviceLogRing {
  private seq = 0;
  private readonly services = new Map<string, ServiceRing>();
  /** Lines of services beyond `maxServices`, not kept. */
  refused = 0;

  constructor(
    private readonly linesPerService: number = DEFAULT_RING_LINES,
    private readonly maxServices: number = DEFAULT_RING_SERVICES,
  ) {
    if (!Number.isInteger(linesPerService) || linesPerService < 1)
      throw new Error(`a log ring holds at least 1 line per service, not ${linesPerService}`);
  }

  /** The number of the newest line; a reader starting now passes it as `after`. */
  get last(): number {
    return this.seq;
  }

  append(lines: readonly DeviceLogLine[]): void {
    for (const line of lines) {
      let ring = this.services.get(line.service);
      if (ring === undefined) {
        if (this.services.size >= this.maxServices) {
          this.refused += 1;
          continue;
        }
        ring = new ServiceRing(this.linesPerService);
        this.services.set(line.service, ring);
      }
      this.seq += 1;
      ring.push({ seq: this.seq, line });
    }
  }

  /** Lines numbered above `after` of `services` (null: all), in arrival order. */
  read(after: number, services: ReadonlySet<string> | null): RingRead {
    const entries: Entry[] = [];
    const gaps: string[] = [];
    for (const [name, ring] of this.services) {
      if (services !== null && !services.has(name)) continue;
      if (ring.lastEvicted > after) gaps.push(name);
      entries.push(...ring.after(after));
    }
    entries.sort((a, b) => a.seq - b.seq);
    return { lines: entries.map((e) => e.line), next: this.seq, gaps };
  }
}

// The device's data use: the HTTP bytes it sends and receives, by what they were for (protocol/state-report.ts
// TRAFFIC_PURPOSES), counted where they pass (the API client, the downloader) for the current calendar month
// (UTC) and today. Kept in an atomic file in the data dir, so a restart or a power cut loses at most the last
// flush interval, and a metered SIM's month is not forgotten. Reported (compact, riding on other reports) and
// shown by the local API.
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import {
  TRAFFIC_PURPOSES,
  TrafficReportSchema,
  type TrafficPurpose,
  type TrafficReport,
} from '../../protocol/state-report.js';
import { parse } from '../../protocol/validate.js';
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import { writeFileAtomic } from './atomic-file.js';
import { readStateFile } from './state-file.js';

export const TRAFFIC_FILE = 'traffic.json';
/** How often counted bytes are written out at most: a file write per request would wear an SD card. */
export const TRAFFIC_FLUSH_MS = 60_000;

export const TrafficFileSchema = Type.Object({
  month: TrafficReportSchema,
  /** Today's bytes (UTC), same shape, `month` holding the day (YYYY-MM-DD). */
  day: Type.Object({
    date: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' }),
    bytes: TrafficReportSchema.properties.bytes,
  }),
});
type TrafficFile = Static<typeof TrafficFileSchema>;

type Bytes = TrafficReport['bytes'];

/**
 * What a request that is not the API client's own was for, from the URL it was made to (before any redirect, so a
 * registry's blob that redirects to object storage is still a blob). Deltas travel as registry blobs too: a blob
 * whose digest is one of `patches` (those the delta rebuilder fetches) is counted as deltas.
 */
export function purposeOfUrl(url: URL, patches?: PatchDigests): TrafficPurpose {
  const p = url.pathname;
  if (p.startsWith('/v2/') && p.includes('/manifests/')) return 'manifests';
  if (p.startsWith('/v2/') && p.includes('/blobs/'))
    return patches?.has(p.slice(p.lastIndexOf('/') + 1)) === true ? 'deltas' : 'blobs';
  if (p.includes('/os-releases/') || p.endsWith('.raucb')) return 'os';
  if (p.endsWith('/token') || p.includes('/registry-token')) return 'auth';
  return 'other';
}

/** [sent, received] of one purpose; the schema holds it to exactly two counts. */
function pairOf(bytes: Bytes, purpose: TrafficPurpose): [number, number] {
  const [s = 0, r = 0] = bytes[purpose] ?? [];
  return [s, r];
}

/**
 * The digests of the delta patches the device fetched lately, so their blob requests count as deltas. Bounded: a
 * patch is fetched right after it is noted, so only the newest few matter.
 */
export class PatchDigests {
  private readonly digests = new Set<string>();

  constructor(private readonly max = 1_024) {}

  add(digest: string): void {
    this.digests.delete(digest);
    this.digests.add(digest);
    if (this.digests.size > this.max) {
      const [oldest] = this.digests;
      if (oldest !== undefined) this.digests.delete(oldest);
    }
  }

  has(digest: string): boolean {
    return this.digests.has(digest);
  }
}

function added(bytes: Bytes, purpose: TrafficPurpose, sent: number, received: number): Bytes {
  const [s, r] = pairOf(bytes, purpose);
  return { ...bytes, [purpose]: [s + sent, r + received] };
}

/** Sent and received bytes of every purpose together. */
export function totalOf(bytes: Bytes): { sent: number; received: number } {
  let sent = 0;
  let received = 0;
  for (const purpose of TRAFFIC_PURPOSES) {
    const [s, r] = pairOf(bytes, purpose);
    sent += s;
    received += r;
  }
  return { sent, received };
}

export interface TrafficCountersOptions {
  dataDir: string;
  log: Logger;
  now?: () => Date;
}

export class TrafficCounters {
  private state: TrafficFile;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly now: () => Date;

  private constructor(
    private readonly options: TrafficCountersOptions,
    state: TrafficFile,
  ) {
    this.now = options.now ?? (() => new Date());
    this.state = state;
  }

  /** The counters kept in `dataDir`, or fresh ones when there are none (or they cannot be read: said in the log). */
  static async load(options: TrafficCountersOptions): Promise<TrafficCounters> {
    const file = path.join(options.dataDir, TRAFFIC_FILE);
    const today = (options.now ?? (() => new Date()))();
    let state: TrafficFile = TrafficCounters.empty(today);
    try {
      const raw = await readStateFile(file, 'the traffic counters');
      if (raw !== null) state = parse(TrafficFileSchema, raw, `traffic counters in ${file}`);
    } catch (err) {
      options.log.warn({ err: messageOf(err), file }, 'traffic counters unreadable: counting from zero');
    }
    return new TrafficCounters(options, state);
  }

  private static empty(now: Date): TrafficFile {
    const date = now.toISOString().slice(0, 10);
    return { month: { month: date.slice(0, 7), bytes: {} }, day: { date, bytes: {} } };
  }

  /** Counts one request's bytes. */
  add(purpose: TrafficPurpose, bytes: { sent: number; received: number }): void {
    if (bytes.sent === 0 && bytes.received === 0) return;
    this.roll();
    this.state = {
      month: { ...this.state.month, bytes: added(this.state.month.bytes, purpose, bytes.sent, bytes.received) },
      day: { ...this.state.day, bytes: added(this.state.day.bytes, purpose, bytes.sent, bytes.received) },
    };
    this.dirty = true;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, TRAFFIC_FLUSH_MS);
    this.timer.unref();
  }

  /** A new month or day starts its counters from zero. */
  private roll(): void {
    const date = this.now().toISOString().slice(0, 10);
    if (date === this.state.day.date) return;
    const month = date.slice(0, 7);
    this.state = {
      month: month === this.state.month.month ? this.state.month : { month, bytes: {} },
      day: { date, bytes: {} },
    };
    this.dirty = true;
  }

  /** This month's bytes, as reports carry them. */
  month(): TrafficReport {
    this.roll();
    return this.state.month;
  }

  /** Today's bytes. */
  today(): { date: string; bytes: Bytes } {
    this.roll();
    return this.state.day;
  }

  /** Writes the counters out if they changed (the timer does it too; call it before stopping). */
  async flush(): Promise<void> {
    if (!this.dirty) return this.writing;
    this.dirty = false;
    const text = `${JSON.stringify(this.state)}\n`;
    const file = path.join(this.options.dataDir, TRAFFIC_FILE);
    this.writing = this.writing
      .then(() => writeFileAtomic(file, text))
      .catch((err: unknown) => {
        this.dirty = true;
        this.options.log.warn({ err: messageOf(err), file }, 'traffic counters not written; trying again later');
      });
    return this.writing;
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

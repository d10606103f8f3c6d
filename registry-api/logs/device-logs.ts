// The API's half of fleet logs (protocol/device-logs.ts): which devices have a push channel open here, the snapshots
// people wait for, and the rings of followed lines. Nothing is kept for a device nobody follows: snapshot lines go
// to the one request that asked for them, followed lines into a ring that exists while someone follows.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../lib/logger.js';
import {
  DEFAULT_FOLLOW_MS,
  DEFAULT_RENEW_MS,
  byTime,
  type DeviceLogLine,
  type LogBatch,
  type LogsEvent,
} from '../../protocol/device-logs.js';
import { localLogRelay, type LogRelay } from './relay.js';
import { DEFAULT_RING_LINES, DeviceLogRing } from './ring.js';

export interface DeviceLogsOptions {
  /** Absent: this instance alone (relay.ts). */
  relay?: LogRelay;
  /** How long a follow want lasts on the device from each renewal. */
  followMs?: number;
  /** How often a follower renews it. */
  renewMs?: number;
  ringLines?: number;
}

/** The device has no push channel open to the API. */
export class DeviceNotConnected extends Error {
  constructor(readonly uuid: string) {
    super(`device '${uuid}' has no push channel open to the API`);
    this.name = 'DeviceNotConnected';
  }
}

/** The device heard the request but sent no (complete) snapshot in time. */
export class DeviceSilent extends Error {
  constructor(
    readonly uuid: string,
    readonly waitedMs: number,
    readonly linesSoFar: number,
  ) {
    super(`device '${uuid}' sent no complete answer within ${Math.round(waitedMs / 1000)} s`);
    this.name = 'DeviceSilent';
  }
}

export interface SnapshotRequest {
  services: string[] | null;
  tail: number;
  waitMs: number;
  /** 0: the device sends the snapshot only. */
  followMs: number;
}

export interface Snapshot {
  /** Every service the device runs. */
  services: string[];
  lines: DeviceLogLine[];
  /** The ring's last line when the snapshot completed: a follower reads on from there. */
  cursor: number;
}

interface Pending {
  lines: DeviceLogLine[];
  finish(services: string[]): void;
}

/** What a follower is told: new lines are in the ring, or the device dropped some. */
export type FollowSignal = { kind: 'lines' } | { kind: 'dropped'; count: number };

interface Followed {
  ring: DeviceLogRing;
  listeners: Set<(signal: FollowSignal) => void>;
  /** Open follow handles: the ring goes with the last. */
  handles: number;
}

export interface FollowHandle {
  ring: DeviceLogRing;
  /** Calls `listener` on every change; returns the unsubscribe. */
  listen(listener: (signal: FollowSignal) => void): () => void;
  close(): void;
}

export class DeviceLogs {
  readonly followMs: number;
  readonly renewMs: number;
  private readonly relay: LogRelay;
  private readonly channels = new Map<string, Set<(event: LogsEvent) => void>>();
  private readonly pending = new Map<string, Pending>();
  private readonly followed = new Map<string, Followed>();
  private readonly ringLines: number;

  constructor(
    options: DeviceLogsOptions,
    private readonly logger: Logger,
  ) {
    this.relay = options.relay ?? localLogRelay();
    this.followMs = options.followMs ?? DEFAULT_FOLLOW_MS;
    this.renewMs = options.renewMs ?? DEFAULT_RENEW_MS;
    this.ringLines = options.ringLines ?? DEFAULT_RING_LINES;
    this.relay.bind({
      deliver: (uuid, event) => this.deliver(uuid, event),
      receive: (uuid, batch) => this.apply(uuid, batch),
    });
  }

  /** A device's push channel opened here; the returned function is called when it closes. */
  attach(uuid: string, send: (event: LogsEvent) => void): () => void {
    let sinks = this.channels.get(uuid);
    if (sinks === undefined) {
      sinks = new Set();
      this.channels.set(uuid, sinks);
    }
    sinks.add(send);
    return () => {
      sinks.delete(send);
      if (sinks.size === 0 && this.channels.get(uuid) === sinks) this.channels.delete(uuid);
    };
  }

  /** A batch a device posted (its token checked): handed to whichever instance waits for it. */
  async receive(uuid: string, batch: LogBatch): Promise<void> {
    await this.relay.publish(uuid, batch);
  }

  /**
   * Asks the device for the last `tail` lines per service and waits for them. Throws DeviceNotConnected when no
   * instance holds the device's push channel, DeviceSilent when the answer is not complete after `waitMs`.
   */
  async snapshot(uuid: string, request: SnapshotRequest): Promise<Snapshot> {
    const id = randomUUID();
    const key = `${uuid} ${id}`;
    const lines: DeviceLogLine[] = [];
    const answered = new Promise<Snapshot>((resolve) => {
      this.pending.set(key, {
        lines,
        finish: (services) =>
          resolve({ services, lines: byTime(lines), cursor: this.followed.get(uuid)?.ring.last ?? 0 }),
      });
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const event: LogsEvent = {
        request: id,
        services: request.services,
        tail: request.tail,
        followMs: request.followMs,
      };
      if (!(await this.relay.request(uuid, event))) throw new DeviceNotConnected(uuid);
      const silent = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DeviceSilent(uuid, request.waitMs, lines.length)), request.waitMs);
      });
      return await Promise.race([answered, silent]);
    } finally {
      clearTimeout(timer);
      this.pending.delete(key);
    }
  }

  /** Extends the device's follow want; false when no instance holds its push channel right now. */
  renew(uuid: string, services: string[] | null): Promise<boolean> {
    return this.relay.request(uuid, { request: randomUUID(), services, tail: null, followMs: this.followMs });
  }

  /** Starts keeping the device's followed lines (before asking for them, so none is missed). */
  follow(uuid: string): FollowHandle {
    let followed = this.followed.get(uuid);
    if (followed === undefined) {
      followed = { ring: new DeviceLogRing(this.ringLines), listeners: new Set(), handles: 0 };
      this.followed.set(uuid, followed);
    }
    const entry = followed;
    entry.handles += 1;
    let closed = false;
    return {
      ring: entry.ring,
      listen: (listener) => {
        entry.listeners.add(listener);
        return () => {
          entry.listeners.delete(listener);
        };
      },
      close: () => {
        if (closed) return;
        closed = true;
        entry.handles -= 1;
        if (entry.handles === 0 && this.followed.get(uuid) === entry) this.followed.delete(uuid);
      },
    };
  }

  private deliver(uuid: string, event: LogsEvent): boolean {
    const sinks = this.channels.get(uuid);
    if (sinks === undefined || sinks.size === 0) return false;
    // A device with two channels open (one not yet noticed dead) hears it twice; it ignores a request id it knows.
    for (const send of sinks) send(event);
    return true;
  }

  private apply(uuid: string, batch: LogBatch): void {
    if (batch.snapshot !== undefined) {
      const pending = this.pending.get(`${uuid} ${batch.snapshot.request}`);
      if (pending === undefined) return;
      pending.lines.push(...batch.lines);
      if (batch.snapshot.final) pending.finish(batch.snapshot.services);
      return;
    }
    const followed = this.followed.get(uuid);
    if (followed === undefined) return;
    followed.ring.append(batch.lines);
    if (batch.dropped !== undefined && batch.dropped > 0) {
      this.logger.debug({ uuid, dropped: batch.dropped }, 'device logs: the device dropped followed lines');
      for (const listener of followed.listeners) listener({ kind: 'dropped', count: batch.dropped });
    }
    if (batch.lines.length > 0) for (const listener of followed.listeners) listener({ kind: 'lines' });
  }
}

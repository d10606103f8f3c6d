// The device's half of fleet logs (protocol/device-logs.ts). Idle unless the API asks: a `logs` event on the push
// channel asks for a snapshot (the last `tail` lines per service, sent marked with the request's id) and/or a
// follow want for `followMs`. While a want lasts, the shipper reads what the followed services printed since the
// last read (once a second) and posts it; when the last want ends it forgets its place and sends nothing more.
// Reads are bounded (`tail` plus `since`, so the engine reads from the end of the log, never all of it); a service
// that prints faster than that loses lines, and the batch says how many.
import { performance } from 'node:perf_hooks';
import {
  LogsEventSchema,
  timestampNanos,
  type DeviceLogLine,
  type LogBatch,
  type LogsEvent,
} from '../../protocol/device-logs.js';
import { parse } from '../../protocol/validate.js';
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import type { ContainerLogLine, Engine, EngineContainer } from '../engine/engine.js';
import { followBatches, snapshotBatches, wireLine } from './log-batches.js';
import { LABELS, MANAGED_FILTER } from '../plan/naming.js';
import { PassLoop } from '../device/wakeup.js';
import { byCodePoint } from '../../lib/code-point-order.js';

export const DEFAULT_FOLLOW_INTERVAL_MS = 1_000;
/** Lines per service per read while following. */
export const DEFAULT_READ_LIMIT = 500;
/** Snapshot requests waiting; more are refused (the API times the asker out). */
const MAX_QUEUED_SNAPSHOTS = 16;
/** Request ids remembered: an event heard twice (two channels open for a moment) is answered once. */
const REMEMBERED_REQUESTS = 64;
/** Distinct service selections followed at once. */
const MAX_WANTS = 32;
const IDLE_WAIT_MS = 3_600_000;

export interface LogShipperOptions {
  engine: Pick<Engine, 'listContainers' | 'containerLogs'>;
  send(batch: LogBatch): Promise<void>;
  log: Logger;
  intervalMs?: number;
  readLimit?: number;
}

interface Want {
  services: readonly string[] | null;
  /** performance.now() deadline: the wall clock may jump on a device without a real-time clock. */
  until: number;
}

const nowNanos = (): bigint => BigInt(Date.now()) * 1_000_000n;

/** Per service the container that matters: a running one first, else the newest (as the local API picks). */
export function containerPerService(
  containers: readonly EngineContainer[],
  services: readonly string[] | null,
): Map<string, EngineContainer> {
  const chosen = new Map<string, EngineContainer>();
  for (const c of containers) {
    const service = c.labels[LABELS.service];
    if (service === undefined || (services !== null && !services.includes(service))) continue;
    const best = chosen.get(service);
    const better =
      best === undefined ||
      Number(c.state === 'running') - Number(best.state === 'running') > 0 ||
      ((c.state === 'running') === (best.state === 'running') && c.createdAt > best.createdAt);
    if (better) chosen.set(service, c);
  }
  return new Map([...chosen].sort(([a], [b]) => byCodePoint(a, b)));
}

export class LogShipper {
  private readonly passes = new PassLoop(() => this.shipOnce());
  private readonly wants = new Map<string, Want>();
  private readonly snapshots: LogsEvent[] = [];
  private readonly heard: string[] = [];
  /** Per container the newest line shipped (engine nanoseconds); only while following. */
  private readonly cursors = new Map<string, bigint>();
  /** Lines before this were not asked for: where a container first seen while following starts. */
  private followSince: bigint | null = null;
  private readonly intervalMs: number;
  private readonly readLimit: number;

  constructor(private readonly options: LogShipperOptions) {
    this.intervalMs = options.intervalMs ?? DEFAULT_FOLLOW_INTERVAL_MS;
    this.readLimit = options.readLimit ?? DEFAULT_READ_LIMIT;
  }

  /** Whether a follow want is live now. */
  following(): boolean {
    return this.followed() !== undefined;
  }

  /** The `data` of a `logs` event from the push channel; a malformed one is logged and dropped. */
  onEvent(data: string): void {
    let event: LogsEvent;
    try {
      event = parse(LogsEventSchema, JSON.parse(data), 'logs event from the API');
    } catch (err) {
      this.options.log.warn({ err: messageOf(err) }, 'logs event refused');
      return;
    }
    this.handle(event);
  }

  handle(event: LogsEvent): void {
    if (this.heard.includes(event.request)) return;
    this.heard.push(event.request);
    if (this.heard.length > REMEMBERED_REQUESTS) this.heard.shift();
    const { log } = this.options;
    if (event.followMs > 0) {
      const key = event.services === null ? '*' : JSON.stringify([...event.services].sort());
      const until = performance.now() + event.followMs;
      const known = this.wants.get(key);
      if (known === undefined && this.wants.size >= MAX_WANTS) {
        log.warn({ services: event.services }, 'logs: too many follow wants at once; this one is refused');
      } else {
        if (this.followSince === null) this.followSince = nowNanos();
        this.wants.set(key, { services: event.services, until: Math.max(known?.until ?? 0, until) });
      }
    }
    if (event.tail !== null) {
      if (this.snapshots.length >= MAX_QUEUED_SNAPSHOTS)
        log.warn({ request: event.request }, 'logs: too many snapshot requests queued; this one is refused');
      else this.snapshots.push(event);
    }
    log.debug(
      { request: event.request, services: event.services, tail: event.tail, followMs: event.followMs },
      'logs asked',
    );
    this.passes.wake();
  }

  start(): void {
    this.passes.start();
  }

  stop(): Promise<void> {
    return this.passes.stop();
  }

  /** Answers queued snapshots, then ships what followers want; returns how long to wait before the next pass. */
  private async shipOnce(): Promise<number> {
    let followed: readonly string[] | null | undefined;
    try {
      for (let next = this.snapshots.shift(); next !== undefined && !this.passes.stopped; next = this.snapshots.shift())
        await this.snapshot(next);
      followed = this.followed();
      if (followed === undefined) this.forget();
      else await this.follow(followed);
    } catch (err) {
      // The engine away for a moment: the next pass tries again, the asker sees a gap or a timeout.
      this.options.log.warn({ err: messageOf(err) }, "logs: cannot read the services' logs");
    }
    return followed === undefined ? IDLE_WAIT_MS : this.intervalMs;
  }

  /** The services followed now (null: all); undefined when no want is live. */
  private followed(): readonly string[] | null | undefined {
    const now = performance.now();
    for (const [key, want] of this.wants) if (want.until <= now) this.wants.delete(key);
    if (this.wants.size === 0) return undefined;
    const services = new Set<string>();
    for (const want of this.wants.values()) {
      if (want.services === null) return null;
      for (const s of want.services) services.add(s);
    }
    return [...services];
  }

  private forget(): void {
    if (this.followSince !== null) this.options.log.info('logs: nobody follows any more; shipping stopped');
    this.cursors.clear();
    this.followSince = null;
  }

  private async snapshot(event: LogsEvent): Promise<void> {
    const all = containerPerService(await this.options.engine.listContainers(MANAGED_FILTER), null);
    const asked = event.services;
    const containers = asked === null ? all : new Map([...all].filter(([service]) => asked.includes(service)));
    const following = this.followed() !== undefined;
    const lines: DeviceLogLine[] = [];
    for (const [service, container] of containers) {
      const read =
        event.tail === 0 ? [] : await this.options.engine.containerLogs(container.id, { tail: event.tail ?? 0 });
      const wire = read.map((l) => wireLine(service, container.id, l)).filter((l) => l !== null);
      lines.push(...wire);
      // Following starts where the snapshot ends: the lines it showed are not sent again.
      if (following && !this.cursors.has(container.id)) {
        const last = wire.at(-1);
        this.cursors.set(container.id, last === undefined ? nowNanos() : timestampNanos(last.timestamp));
      }
    }
    const batches = snapshotBatches(event.request, [...all.keys()], lines);
    await this.ship(batches);
    this.options.log.info(
      { request: event.request, services: [...containers.keys()], lines: lines.length, batches: batches.length },
      'logs: snapshot sent',
    );
  }

  private async follow(services: readonly string[] | null): Promise<void> {
    const { engine } = this.options;
    const containers = containerPerService(await engine.listContainers(MANAGED_FILTER), services);
    const since = this.followSince ?? nowNanos();
    const lines: DeviceLogLine[] = [];
    let dropped = 0;
    const present = new Set<string>();
    for (const [service, container] of containers) {
      present.add(container.id);
      const cursor = this.cursors.get(container.id) ?? since;
      // Whole seconds for the engine (it keeps lines at or after `since`); the nanoseconds are compared here.
      const sinceSeconds = Number(cursor / 1_000_000_000n);
      const newer = (read: ContainerLogLine[]): DeviceLogLine[] =>
        read
          .map((l) => wireLine(service, container.id, l))
          .filter((l): l is DeviceLogLine => l !== null && timestampNanos(l.timestamp) > cursor);
      let fresh = newer(await engine.containerLogs(container.id, { tail: this.readLimit, since: sinceSeconds }));
      if (fresh.length >= this.readLimit) {
        // Every line read is new: there may be more (a service printing over readLimit lines a second, rare).
        // Count them exactly, ship the newest readLimit.
        const all = newer(await engine.containerLogs(container.id, { since: sinceSeconds }));
        dropped += Math.max(0, all.length - this.readLimit);
        fresh = all.slice(-this.readLimit);
      }
      const last = fresh.at(-1);
      if (last !== undefined) this.cursors.set(container.id, timestampNanos(last.timestamp));
      else if (!this.cursors.has(container.id)) this.cursors.set(container.id, cursor);
      lines.push(...fresh);
    }
    for (const id of this.cursors.keys()) if (!present.has(id)) this.cursors.delete(id);
    await this.ship(followBatches(lines, dropped));
  }

  private async ship(batches: LogBatch[]): Promise<void> {
    for (const batch of batches) {
      try {
        await this.options.send(batch);
      } catch (err) {
        // Logs are best effort: a batch the link lost is not worth a backlog on a metered link.
        this.options.log.warn(
          { err: messageOf(err), lines: batch.lines.length },
          'logs: a batch could not be sent; dropped',
        );
      }
    }
  }
}

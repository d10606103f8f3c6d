// Tells connected devices when their target changed. The invalidation bus (invalidation.ts) says which devices and
// fleets a committed change concerns, on this instance and (with Redis) every other one: the watcher then reads
// just the connected devices concerned with their target generations (store/target-generation.ts; one read per 512
// connections) and asks the target cache for their ETags, the same cache and code the target route uses, and sends
// to those whose ETag moved. No route has to remember to signal: every audited change moves a generation and is
// announced on the bus after its commit. A slow sweep of every connection (once a minute by default) covers what
// no commit announces: a target re-issued because its validity ran on, a bus message lost while Redis was away.
// Without a bus (a store alone), the sweep is all there is. While the bus cannot vouch that it is current (Redis
// paused or away: it hears nothing), the sweep runs every second instead: the fail-closed rule for revocation, so a
// device revoked through another instance loses its channel here within seconds, not at the next minute.
import type { Logger } from '../../lib/logger.js';
import type { DeviceRecord, DeviceWithGeneration, Store } from '../store/index.js';
import type { TargetCache } from './target-cache.js';
import type { Invalidation, InvalidationBus } from './invalidation.js';

export interface Watcher {
  /** Called with the device's current target ETag: at once, then whenever it changes. */
  onTarget(etag: string): void;
  /** The device may no longer listen (revoked, deleted); the connection must end. */
  onGone(reason: string): void;
}

export interface TargetWatchOptions {
  store: Pick<Store, 'devices'>;
  /** The app's target cache: a tick with nothing changed computes nothing. */
  targets: TargetCache;
  logger: Logger;
  /** Which devices and fleets committed changes concern; checked as they come. */
  bus?: InvalidationBus;
  /** How often every connected device's target is checked regardless (the safety sweep). */
  intervalMs?: number;
}

/** The safety sweep by default: what no commit announces reaches devices within a minute. */
export const TARGET_SWEEP_INTERVAL_MS = 60_000;
/** The sweep while the bus is not current: changes may go unheard, so the store is asked this often. */
export const UNHEARD_SWEEP_INTERVAL_MS = 1_000;

interface Connection {
  uuid: string;
  /** The device's fleet when last read: a fleet-wide change concerns its connections. */
  fleet: string;
  watcher: Watcher;
  etag: string | null;
}

export class TargetWatch {
  private readonly connections = new Set<Connection>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private readonly intervalMs: number;
  private lastSweepMs = Date.now();
  private unsubscribe: (() => void) | undefined;
  /** Changes heard while a check runs: checked right after it, not dropped. */
  private pending: Connection[] = [];

  constructor(private readonly options: TargetWatchOptions) {
    this.intervalMs = options.intervalMs ?? TARGET_SWEEP_INTERVAL_MS;
  }

  /** The connections a batch of changes concerns. */
  private concerned(changes: readonly Invalidation[]): Connection[] {
    if (changes.some((change) => change.kind === 'everything')) return [...this.connections];
    const uuids = new Set<string>();
    const fleets = new Set<string>();
    for (const change of changes) {
      if (change.kind === 'device') uuids.add(change.uuid);
      else if (change.kind === 'fleet') fleets.add(change.name);
    }
    return [...this.connections].filter((c) => uuids.has(c.uuid) || fleets.has(c.fleet));
  }

  private onChanges(changes: readonly Invalidation[]): void {
    const concerned = this.concerned(changes);
    if (concerned.length === 0) return;
    this.pending.push(...concerned);
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      while (this.pending.length > 0) {
        const batch = [...new Set(this.pending)];
        this.pending = [];
        await this.check(batch);
      }
    } finally {
      this.ticking = false;
    }
  }

  get size(): number {
    return this.connections.size;
  }

  /** Starts watching for one connection of `device`; the returned function ends it. */
  watch(device: DeviceRecord, watcher: Watcher): () => void {
    const connection: Connection = { uuid: device.uuid, fleet: device.fleet, watcher, etag: null };
    this.connections.add(connection);
    // The first event goes out at once: a device that reconnects learns about what it missed while away.
    void this.check([connection]);
    if (this.timer === undefined) {
      this.lastSweepMs = Date.now();
      this.timer = setInterval(() => this.tick(), Math.min(this.intervalMs, UNHEARD_SWEEP_INTERVAL_MS));
      // An API with connected devices must still be able to exit.
      this.timer.unref();
      this.unsubscribe = this.options.bus?.subscribe((changes) => this.onChanges(changes));
    }
    return () => {
      this.connections.delete(connection);
      if (this.connections.size === 0 && this.timer !== undefined) {
        clearInterval(this.timer);
        this.timer = undefined;
        this.unsubscribe?.();
        this.unsubscribe = undefined;
      }
    };
  }

  private tick(): void {
    const now = Date.now();
    const unheard = this.options.bus !== undefined && !this.options.bus.current();
    if (!unheard && now - this.lastSweepMs < this.intervalMs) return;
    this.lastSweepMs = now;
    // A sweep while a check runs (a busy database) joins the queue; a connection queued twice is checked once.
    this.pending.push(...this.connections);
    void this.drain();
  }

  private async check(connections: Connection[]): Promise<void> {
    const { store, targets, logger } = this.options;
    let found: Map<string, DeviceWithGeneration>;
    try {
      const rows = await store.devices.withGenerations([...new Set(connections.map((c) => c.uuid))]);
      found = new Map(rows.map((row) => [row.device.uuid, row]));
    } catch (err) {
      // A database hiccup: the next tick tries again.
      logger.warn({ err, connections: connections.length }, 'target watch: cannot read the connected devices');
      return;
    }
    for (const connection of connections) {
      if (!this.connections.has(connection)) continue;
      try {
        const current = found.get(connection.uuid);
        const gone =
          current === undefined
            ? 'the device no longer exists'
            : current.device.revokedAt !== null
              ? `the device was revoked at ${current.device.revokedAt}`
              : null;
        const served =
          current === undefined || gone !== null ? null : await targets.targetOf(current.device, current.generation);
        if (gone !== null || served === null) {
          this.connections.delete(connection);
          connection.watcher.onGone(gone ?? `fleet of device '${connection.uuid}' no longer exists`);
          continue;
        }
        if (current !== undefined) connection.fleet = current.device.fleet;
        if (served.etag !== connection.etag) {
          connection.etag = served.etag;
          connection.watcher.onTarget(served.etag);
        }
      } catch (err) {
        // One device's failure (a database hiccup) must not starve the others; the next tick tries again.
        logger.warn({ err, uuid: connection.uuid }, 'target watch: cannot compute the target of a connected device');
      }
    }
  }
}

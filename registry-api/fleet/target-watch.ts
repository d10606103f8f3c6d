// Tells connected devices when their target changed. Nothing signals it: once a second the watcher reads the
// connected devices with their target generations (store/target-generation.ts; one read per 512 connections) and
// asks the target cache for their ETags, the same cache and code the target route uses, and sends to those whose
// ETag moved. While nothing changed that is a map look-up per connection: no target is recomputed. Chosen over a
// notifier that store writes call because
// - no route (pin, track-latest, device pin, config, a release turning ready, anything added later) has to
//   remember to signal: every audited change moves a generation, and a moved generation recomputes the ETag;
// - several API instances over one database need nothing between them: the generations live in the database, so a
//   pin made through instance A reaches a device connected to instance B within a tick.
import type { Logger } from '../../lib/logger.js';
import type { DeviceRecord, DeviceWithGeneration, Store } from '../store/index.js';
import type { TargetCache } from './target-cache.js';

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
  /** How often connected devices' targets are checked. */
  intervalMs?: number;
}

interface Connection {
  uuid: string;
  watcher: Watcher;
  etag: string | null;
}

export class TargetWatch {
  private readonly connections = new Set<Connection>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private readonly intervalMs: number;

  constructor(private readonly options: TargetWatchOptions) {
    this.intervalMs = options.intervalMs ?? 1_000;
  }

  get size(): number {
    return this.connections.size;
  }

  /** Starts watching for one connection of `device`; the returned function ends it. */
  watch(device: DeviceRecord, watcher: Watcher): () => void {
    const connection: Connection = { uuid: device.uuid, watcher, etag: null };
    this.connections.add(connection);
    // The first event goes out at once: a device that reconnects learns about what it missed while away.
    void this.check([connection]);
    if (this.timer === undefined) {
      this.timer = setInterval(() => void this.tick(), this.intervalMs);
      // An API with connected devices must still be able to exit.
      this.timer.unref();
    }
    return () => {
      this.connections.delete(connection);
      if (this.connections.size === 0 && this.timer !== undefined) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  private async tick(): Promise<void> {
    // A tick slower than the interval (a busy database) is not stacked on.
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.check([...this.connections]);
    } finally {
      this.ticking = false;
    }
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

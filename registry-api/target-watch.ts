// Tells connected devices when their target changed. Nothing signals it: once a second the watcher recomputes the
// target ETag of every device holding an events connection, with the same code the target route uses, and sends
// to those whose ETag moved. Chosen over a notifier that store writes call because
// - no route (pin, track-latest, device pin, config, a release turning ready, anything added later) has to
//   remember to signal: what changes the target changes the ETag, by construction;
// - several API instances over one database need nothing between them: each re-checks its own connections, so a
//   pin made through instance A reaches a device connected to instance B within a tick. Redis pub/sub (redisUrl)
//   would only be needed for a signalling design, or to cut the tick's reads once connections reach tens of
//   thousands per instance.
// Cost per tick: per connection one device read and its config reads, plus one fleet and one latest-release read
// per fleet (shared by that fleet's devices within the tick), all indexed SQLite reads.
import type { Logger } from '../lib/logger.js';
import { etagOf } from './etag.js';
import type { DeviceRecord, FleetRecord, ReleaseRecord, Store } from './store/index.js';
import { targetFor, type TargetSources } from './target-state.js';

export interface Watcher {
  /** Called with the device's current target ETag: at once, then whenever it changes. */
  onTarget(etag: string): void;
  /** The device may no longer listen (revoked, deleted); the connection must end. */
  onGone(reason: string): void;
}

export interface TargetWatchOptions {
  store: Store;
  logger: Logger;
  /** How often connected devices' targets are recomputed. */
  intervalMs?: number;
}

interface Connection {
  uuid: string;
  watcher: Watcher;
  etag: string | null;
}

/** Releases read at most once per tick, whatever the number of devices of the fleet. */
function memoized(releases: TargetSources['releases']): TargetSources['releases'] {
  const byId = new Map<string, Promise<ReleaseRecord | null>>();
  const latest = new Map<string, Promise<ReleaseRecord | null>>();
  return {
    get: (id) => {
      const known = byId.get(id) ?? releases.get(id);
      byId.set(id, known);
      return known;
    },
    latestReady: (fleet) => {
      const known = latest.get(fleet) ?? releases.latestReady(fleet);
      latest.set(fleet, known);
      return known;
    },
  };
}

/** The ETag GET /v1/device/{uuid}/target would answer with; null for a device that may not ask any more. */
async function targetEtag(
  device: DeviceRecord, fleets: (name: string) => Promise<FleetRecord | null>, sources: TargetSources,
): Promise<string | null> {
  const fleet = await fleets(device.fleet);
  if (fleet === null) return null;
  return etagOf(await targetFor(sources, device, fleet));
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
    const { store, logger } = this.options;
    const fleetReads = new Map<string, Promise<FleetRecord | null>>();
    const fleets = (name: string): Promise<FleetRecord | null> => {
      const known = fleetReads.get(name) ?? store.fleets.get(name);
      fleetReads.set(name, known);
      return known;
    };
    const sources: TargetSources = { releases: memoized(store.releases), config: store.config, osReleases: store.osReleases };
    for (const connection of connections) {
      if (!this.connections.has(connection)) continue;
      try {
        const device = await store.devices.get(connection.uuid);
        const gone = device === null ? 'the device no longer exists'
          : device.revokedAt !== null ? `the device was revoked at ${device.revokedAt}`
            : null;
        const etag = device === null || gone !== null ? null : await targetEtag(device, fleets, sources);
        if (gone !== null || etag === null) {
          this.connections.delete(connection);
          connection.watcher.onGone(gone ?? `fleet of device '${connection.uuid}' no longer exists`);
          continue;
        }
        if (etag !== connection.etag) {
          connection.etag = etag;
          connection.watcher.onTarget(etag);
        }
      } catch (err) {
        // One device's failure (a database hiccup) must not starve the others; the next tick tries again.
        logger.warn({ err, uuid: connection.uuid }, 'target watch: cannot compute the target of a connected device');
      }
    }
  }
}

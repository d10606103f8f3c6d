// What the fleet events streams of one instance share: the last events it heard (any instance's), so a reader that
// reconnects with Last-Event-ID gets what it missed while that is still kept, and the limits of a stream.
import type { FleetEvent } from '../../protocol/fleet-events.js';
import type { FleetEventBus } from './bus.js';

export interface EventStreamSettings {
  /** Events kept for Last-Event-ID; older ones are gone and a reader that asks for them gets `reset`. */
  ringSize: number;
  /** Comments that keep proxies from closing a quiet stream. */
  heartbeatMs: number;
  /**
   * Bytes waiting unsent that a reader must have read below by each heartbeat, else it is cut off (it reconnects
   * and resumes); four times this cuts it off at once.
   */
  maxBufferedBytes: number;
  /** Streams this instance holds at most; more are refused with 503. */
  maxStreams: number;
}

export const DEFAULT_EVENT_STREAM_SETTINGS: EventStreamSettings = {
  // Some minutes of a busy fleet's events, a few hundred kB of memory.
  ringSize: 1000,
  heartbeatMs: 15_000,
  maxBufferedBytes: 256 * 1024,
  maxStreams: 1000,
};

/** The last `size` events this instance heard, oldest first. */
export class FleetEventRing {
  private readonly events: FleetEvent[] = [];
  private readonly unsubscribe: () => void;

  constructor(
    bus: FleetEventBus,
    private readonly size: number,
  ) {
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`the event ring's size must be a positive integer, got ${size}`);
    this.unsubscribe = bus.subscribe((event) => {
      this.events.push(event);
      if (this.events.length > this.size) this.events.shift();
    });
  }

  /** The events heard after the one with `id`; null when that one is no longer (or never was) kept. */
  after(id: string): FleetEvent[] | null {
    for (let i = this.events.length - 1; i >= 0; i -= 1) {
      if (this.events[i]!.id === id) return this.events.slice(i + 1);
    }
    return null;
  }

  close(): void {
    this.unsubscribe();
  }
}

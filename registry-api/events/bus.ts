// The fleet events of this API instance: whoever changes something publishes what happened once it is committed,
// and the events stream, webhooks and dashboard subscribe. In-process only here; an instance that shares its store
// with others relays through Redis so that every instance's subscribers hear every event.
import { randomBytes } from 'node:crypto';
import type { FleetEvent } from '../../protocol/fleet-events.js';

export type FleetEventInput = Omit<FleetEvent, 'id' | 'at'> & { at?: string };
/** Where an event was published: on this instance, or on another one and relayed (events/relay.ts). */
export type FleetEventOrigin = 'local' | 'remote';
/**
 * Every instance hears every event; `origin` tells the one instance that published it, which is the one that does
 * what must happen once per event (queue its webhook deliveries), from the others, which only show it.
 */
export type FleetEventListener = (event: FleetEvent, origin: FleetEventOrigin) => void;

export class FleetEventBus {
  private readonly listeners = new Set<FleetEventListener>();
  private sequence = 0;
  /** Sends this instance's events to the others (events/relay.ts); null: a single instance. */
  private relay: ((event: FleetEvent) => void) | null = null;
  /** Tells this instance's ids from another's that published in the same millisecond. */
  private readonly instance = randomBytes(3).toString('hex');

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** Hands `input` to every subscriber; a subscriber that throws is not allowed to stop the others. */
  publish(input: FleetEventInput): FleetEvent {
    const at = input.at ?? this.now().toISOString();
    this.sequence += 1;
    const id = `${Date.parse(at).toString(36)}-${this.instance}-${this.sequence.toString(36)}`;
    const event: FleetEvent = { ...input, id, at };
    this.deliver(event, 'local');
    this.relay?.(event);
    return event;
  }

  /** Hands an event that was published elsewhere (another instance) to this instance's subscribers. */
  deliver(event: FleetEvent, origin: FleetEventOrigin = 'remote'): void {
    for (const listener of this.listeners) {
      try {
        listener(event, origin);
      } catch {
        // A subscriber's failure is its own (it logs); the others still hear the event.
      }
    }
  }

  /** Sends every event published here to `send` too, after this instance's own subscribers heard it. */
  relayTo(send: ((event: FleetEvent) => void) | null): void {
    this.relay = send;
  }

  /** Calls `listener` for every event from now on; returns the unsubscribe. */
  subscribe(listener: FleetEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

// The fleet events of this API instance: whoever changes something publishes what happened once it is committed,
// and the events stream, webhooks and dashboard subscribe. In-process only here; an instance that shares its store
// with others relays through Redis so that every instance's subscribers hear every event.
import { randomBytes } from 'node:crypto';
import type { FleetEvent } from '../../protocol/fleet-events.js';

export type FleetEventInput = Omit<FleetEvent, 'id' | 'at'> & { at?: string };
export type FleetEventListener = (event: FleetEvent) => void;

export class FleetEventBus {
  private readonly listeners = new Set<FleetEventListener>();
  private sequence = 0;
  /** Tells this instance's ids from another's that published in the same millisecond. */
  private readonly instance = randomBytes(3).toString('hex');

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** Hands `input` to every subscriber; a subscriber that throws is not allowed to stop the others. */
  publish(input: FleetEventInput): FleetEvent {
    const at = input.at ?? this.now().toISOString();
    this.sequence += 1;
    const id = `${Date.parse(at).toString(36)}-${this.instance}-${this.sequence.toString(36)}`;
    const event: FleetEvent = { ...input, id, at };
    this.deliver(event);
    return event;
  }

  /** Hands an event that was published elsewhere (another instance) to this instance's subscribers. */
  deliver(event: FleetEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A subscriber's failure is its own (it logs); the others still hear the event.
      }
    }
  }

  /** Calls `listener` for every event from now on; returns the unsubscribe. */
  subscribe(listener: FleetEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

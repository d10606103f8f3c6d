// Which devices hold a push channel to this API instance, and how to tell one that an action waits for it. The
// event names only the action's id (protocol/device-events.ts ACTION_EVENT); the device fetches its actions over
// its own authenticated route. A device with no channel here hears of its actions when its channel opens
// (replayed at attach), so an action survives the device being offline for its whole lifetime but no longer.
import type { ActionEvent } from '../../protocol/device-events.js';

export type ActionWriter = (event: ActionEvent) => void;

export class DeviceActionNotifier {
  private readonly channels = new Map<string, Set<ActionWriter>>();

  /** Registers a channel of device `uuid`; returns the detach. */
  attach(uuid: string, write: ActionWriter): () => void {
    let writers = this.channels.get(uuid);
    if (writers === undefined) {
      writers = new Set();
      this.channels.set(uuid, writers);
    }
    writers.add(write);
    return () => {
      const now = this.channels.get(uuid);
      now?.delete(write);
      if (now?.size === 0) this.channels.delete(uuid);
    };
  }

  /** Tells every channel of the device; false when it has none open to this instance. */
  notify(uuid: string, id: string): boolean {
    const writers = this.channels.get(uuid);
    if (writers === undefined) return false;
    for (const write of writers) write({ id });
    return true;
  }
}

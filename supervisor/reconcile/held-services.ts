// Services an operator or technician stopped on purpose (the device-local API's stop). Without this a stopped
// `restart: always` service came back at the next reconcile pass, as balena users know (balena-supervisor issues
// 1549, 1668). The set is kept in DATA_DIR/held-services.json so that it survives a restart of the supervisor, and
// only `start` or `restart` through the local API releases a hold: a new release does not (an operator who stopped
// the meter reader before a site visit does not want an update to start it behind their back). The planner
// creates a held service's new container on an update but does not start it.
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import { parse } from '../../protocol/validate.js';
import { writeFileAtomic } from '../device/atomic-file.js';
import { readStateFile } from '../device/state-file.js';

export const HELD_SERVICES_FILE = 'held-services.json';

export const HeldServicesFileSchema = Type.Object(
  {
    services: Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { uniqueItems: true }),
  },
  { additionalProperties: false },
);

export class HeldServices {
  readonly file: string;
  private held = new Set<string>();
  /** Writes one after the other, so the file always ends with the last change. */
  private writing: Promise<void> = Promise.resolve();

  constructor(dataDir: string) {
    this.file = path.join(dataDir, HELD_SERVICES_FILE);
  }

  /** Reads the file (absent: nothing held); throws on a file that is not a valid set, naming the file. */
  async load(): Promise<ReadonlySet<string>> {
    const value = await readStateFile(this.file, 'held services');
    if (value === null) return this.held;
    this.held = new Set(parse(HeldServicesFileSchema, value, `held services ${this.file}`).services);
    return this.held;
  }

  current(): ReadonlySet<string> {
    return this.held;
  }

  isHeld(service: string): boolean {
    return this.held.has(service);
  }

  /** Persists the hold before it returns: the caller stops the container only after that. */
  async hold(service: string): Promise<void> {
    if (this.held.has(service)) return;
    await this.change(new Set([...this.held, service]));
  }

  /** Returns whether the service was held. */
  async release(service: string): Promise<boolean> {
    if (!this.held.has(service)) return false;
    await this.change(new Set([...this.held].filter((s) => s !== service)));
    return true;
  }

  /** The set in memory is what the file says: a change that cannot be written is undone. */
  private async change(next: Set<string>): Promise<void> {
    const before = this.held;
    this.held = next;
    try {
      await this.save([...next].sort());
    } catch (err) {
      if (this.held === next) this.held = before;
      throw err;
    }
  }

  private async save(services: string[]): Promise<void> {
    const write = this.writing.then(() => writeFileAtomic(this.file, `${JSON.stringify({ services }, null, 2)}\n`));
    // A failed write must not block the next one; the caller of this one sees the error.
    this.writing = write.catch(() => undefined);
    await write;
  }
}

// Local mode: a developer runs a compose file on one device without the fleet (`skiff push --local`). The request
// (compose file + image digests; ../target/local-target.ts turns it into a target) is kept in DATA_DIR/local-target.json, so
// the device stays in local mode across restarts until it is told to leave. Meanwhile fleet targets are still
// fetched, verified and persisted, just not applied; leaving local mode applies the latest of them.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { LocalTargetRequestSchema, type LocalTargetRequest } from '../../protocol/local-api.js';
import { parse } from '../../protocol/validate.js';
import { writeFileAtomic } from '../device/atomic-file.js';
import { readStateFile } from '../device/state-file.js';

export const LOCAL_TARGET_FILE = 'local-target.json';

export class LocalTargetFile {
  readonly file: string;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, LOCAL_TARGET_FILE);
  }

  /** The request the device is in local mode with; null when it is not. */
  async load(): Promise<LocalTargetRequest | null> {
    const value = await readStateFile(this.file, 'local target');
    if (value === null) return null;
    return parse(LocalTargetRequestSchema, value, `local target ${this.file}`);
  }

  async save(request: LocalTargetRequest): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify(request, null, 2)}\n`);
  }

  async remove(): Promise<void> {
    await rm(this.file, { force: true });
  }
}

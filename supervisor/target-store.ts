// The last accepted target, kept on disk so a device that restarts without network converges to it anyway.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { TargetState } from '../protocol/target-state.js';
import { messageOf } from '../lib/errors.js';
import { writeFileAtomic } from './atomic-file.js';
import { acceptTarget } from './target.js';

export const TARGET_FILE = 'target.json';

export class TargetStore {
  readonly file: string;

  constructor(dataDir: string, private readonly deviceUuid: string) {
    this.file = path.join(dataDir, TARGET_FILE);
  }

  /** The persisted target; null if none was ever accepted. Throws if the file is damaged or invalid. */
  async load(): Promise<TargetState | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new Error(`cannot read ${this.file}: ${messageOf(err)}`, { cause: err });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new Error(`persisted target ${this.file} is not JSON: ${messageOf(err)}`, { cause: err });
    }
    return acceptTarget(value, this.deviceUuid, `persisted target ${this.file}`);
  }

  async save(target: TargetState): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify(target, null, 2)}\n`);
  }
}

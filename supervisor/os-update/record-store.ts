// The OS update record on disk (DATA_DIR/os-update.json), replaced atomically on every state entry so that a power
// cut leaves the last state entered. Validated when read: a damaged file is reported, not acted on.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from '../../protocol/validate.js';
import { messageOf } from '../../lib/errors.js';
import { writeFileAtomic } from '../atomic-file.js';
import { OsUpdateRecordSchema, type OsUpdateRecord } from './state-machine.js';

export interface OsUpdateRecordStore {
  load(): Promise<OsUpdateRecord | null>;
  save(record: OsUpdateRecord): Promise<void>;
}

export class FileRecordStore implements OsUpdateRecordStore {
  readonly file: string;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'os-update.json');
  }

  async load(): Promise<OsUpdateRecord | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new Error(`cannot read OS update record ${this.file}: ${messageOf(err)}`, { cause: err });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new Error(`OS update record ${this.file} is not JSON: ${messageOf(err)}`, { cause: err });
    }
    return parse(OsUpdateRecordSchema, value, `OS update record ${this.file}`);
  }

  async save(record: OsUpdateRecord): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify(record, null, 2)}\n`);
  }
}

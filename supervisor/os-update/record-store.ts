// The OS update record on disk (DATA_DIR/os-update.json), replaced atomically on every state entry so that a power
// cut leaves the last state entered. Validated when read: a damaged file is reported, not acted on.
import path from 'node:path';
import { parse } from '../../protocol/validate.js';
import { writeFileAtomic } from '../device/atomic-file.js';
import { OsUpdateRecordSchema, type OsUpdateRecord } from './state-machine.js';
import { readStateFile } from '../device/state-file.js';

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
    const value = await readStateFile(this.file, 'OS update record');
    if (value === null) return null;
    return parse(OsUpdateRecordSchema, value, `OS update record ${this.file}`);
  }

  async save(record: OsUpdateRecord): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify(record, null, 2)}\n`);
  }
}

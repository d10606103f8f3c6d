// The last accepted target, kept on disk so a device that restarts without network converges to it anyway. It is
// stored with the API's signature and passes the same gate at load as on receipt, so a file altered on disk is
// refused like a target altered in transit.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../lib/errors.js';
import { writeFileAtomic } from './atomic-file.js';
import { acceptSignedTarget, type SignedTarget, type TargetKey } from './target.js';

export const TARGET_FILE = 'target.json';

/** What target.json holds. */
interface PersistedTarget {
  signature: string;
  target: unknown;
}

function isPersistedTarget(value: unknown): value is PersistedTarget {
  return value !== null && typeof value === 'object' && typeof (value as { signature?: unknown }).signature === 'string'
    && 'target' in value;
}

export class TargetStore {
  readonly file: string;

  constructor(dataDir: string, private readonly deviceUuid: string) {
    this.file = path.join(dataDir, TARGET_FILE);
  }

  /**
   * The persisted target; null if none was ever accepted. Throws if the file is damaged, invalid, or not signed by
   * `key` (the API's key the device has now).
   */
  async load(key: TargetKey): Promise<SignedTarget | null> {
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
    const what = `persisted target ${this.file}`;
    // A file of the unsigned format (written before targets were signed) is refused by the signature check.
    const persisted = isPersistedTarget(value) ? value : { signature: null, target: value };
    return acceptSignedTarget(persisted.target, persisted.signature, key, this.deviceUuid, what);
  }

  async save(signed: SignedTarget): Promise<void> {
    const persisted: PersistedTarget = { signature: signed.signature, target: signed.target };
    await writeFileAtomic(this.file, `${JSON.stringify(persisted, null, 2)}\n`);
  }
}

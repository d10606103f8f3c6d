// The last accepted target, kept on disk so a device that restarts without network converges to it anyway. It is
// stored with the API's signature and passes the same gate at load as on receipt, so a file altered on disk is
// refused like a target altered in transit.
import path from 'node:path';
import { writeFileAtomic } from '../device/atomic-file.js';
import { acceptSignedTarget, type SignedTarget, type TargetKey } from './gate.js';
import type { ReleaseTrust } from './release-signature.js';
import { readStateFile } from '../device/state-file.js';

export const TARGET_FILE = 'target.json';

/** What target.json holds. */
interface PersistedTarget {
  signature: string;
  target: unknown;
}

function isPersistedTarget(value: unknown): value is PersistedTarget {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { signature?: unknown }).signature === 'string' &&
    'target' in value
  );
}

export class TargetStore {
  readonly file: string;

  /** `fileName`: another signed target the device keeps, e.g. its last good release's (../app-health/). */
  constructor(
    dataDir: string,
    private readonly deviceUuid: string,
    fileName = TARGET_FILE,
  ) {
    this.file = path.join(dataDir, fileName);
  }

  /**
   * The persisted target; null if none was ever accepted. Throws if the file is damaged, invalid, or not signed by
   * `key` (the API's key the device has now), or its release not signed by a key of `releaseTrust`.
   */
  async load(key: TargetKey, releaseTrust: ReleaseTrust | null = null): Promise<SignedTarget | null> {
    const value = await readStateFile(this.file, 'persisted target');
    if (value === null) return null;
    const what = `persisted target ${this.file}`;
    // A file of the unsigned format (written before targets were signed) is refused by the signature check.
    const persisted = isPersistedTarget(value) ? value : { signature: null, target: value };
    return acceptSignedTarget(persisted.target, persisted.signature, key, this.deviceUuid, what, releaseTrust);
  }

  async save(signed: SignedTarget): Promise<void> {
    const persisted: PersistedTarget = { signature: signed.signature, target: signed.target };
    await writeFileAtomic(this.file, `${JSON.stringify(persisted, null, 2)}\n`);
  }
}

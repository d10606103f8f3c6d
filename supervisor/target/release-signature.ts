// The device's check of developer release signatures (protocol/release-signature.ts), independent of the API: the
// keys it trusts come from its provisioning config (releaseKeys) and change only through a key set signed by a key it
// trusts already. A device without pinned keys takes unsigned releases: signing is opt-in per fleet.
//
// What this stops: an API (or whoever holds its target-signing key) sending a release no developer signed, one
// signed by a key the device never trusted, or a signed release with its services, volumes or networks changed. What
// it does not stop: the API choosing an older signed release (the target's freshness is the API signature's job) or
// withholding a key-set change.
//
// Trusted now: the newest key set accepted (kept in DATA_DIR/release-keys.json so a restart keeps it), else the
// pinned keys. A key set in a target is taken when its version is above the one trusted now and a trusted key signed
// it; an older or equal one is ignored (a replayed set never brings a removed key back).
import path from 'node:path';
import {
  acceptKeySet,
  SignedKeySetSchema,
  trustedKeysOf,
  verifyTargetRelease,
  type SignedKeySet,
  type TrustedKeys,
} from '../../protocol/release-signature.js';
import type { TargetState } from '../../protocol/target-state.js';
import { parse } from '../../protocol/validate.js';
import { writeFileAtomic } from '../device/atomic-file.js';
import { readStateFile } from '../device/state-file.js';

export const RELEASE_KEYS_FILE = 'release-keys.json';

interface Trusted {
  /** Null while only the pinned keys are trusted: the first key set may then be for the device's fleet, whichever. */
  fleet: string | null;
  version: number;
  keys: TrustedKeys;
}

export class ReleaseTrust {
  private trusted: Trusted;
  /** Writes of accepted key sets, one after another. */
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string,
    pinned: TrustedKeys,
    adopted: SignedKeySet | null,
    private readonly onError: (err: unknown, doing: string) => void,
  ) {
    this.trusted =
      adopted === null
        ? { fleet: null, version: 0, keys: pinned }
        : {
            fleet: adopted.document.fleet,
            version: adopted.document.version,
            keys: trustedKeysOf(adopted.document.keys, `key set in ${file}`),
          };
  }

  /**
   * The device's trust; null when its config pins no release key (it then takes unsigned releases). A damaged kept
   * key set is reported and the pinned keys are trusted alone: they are the root of trust, and falling back to
   * unsigned releases is never an option once keys are pinned.
   */
  static async load(
    dataDir: string,
    pinnedKeys: readonly string[] | undefined,
    onError: (err: unknown, doing: string) => void,
  ): Promise<ReleaseTrust | null> {
    if (pinnedKeys === undefined || pinnedKeys.length === 0) return null;
    const file = path.join(dataDir, RELEASE_KEYS_FILE);
    const pinned = trustedKeysOf(pinnedKeys, 'releaseKeys');
    try {
      const value = await readStateFile(file, 'accepted release key set');
      const adopted = value === null ? null : parse(SignedKeySetSchema, value, `accepted release key set ${file}`);
      return new ReleaseTrust(file, pinned, adopted, onError);
    } catch (err) {
      onError(err, 'accepted release key set refused; trusting the pinned release keys only');
      return new ReleaseTrust(file, pinned, null, onError);
    }
  }

  /** The version of the key set trusted now; 0: the pinned keys. */
  version(): number {
    return this.trusted.version;
  }

  /**
   * Takes the target's key set if it is newer and signed by a trusted key, then checks the release's signature.
   * Throws a SignatureError, naming the release, if either fails.
   */
  check(target: TargetState, what: string): void {
    const offered = target.releaseKeys;
    if (offered !== undefined && offered.document.version > this.trusted.version) {
      const fleet = this.trusted.fleet ?? target.fleet.name;
      const keys = acceptKeySet(
        { fleet, version: this.trusted.version, trusted: this.trusted.keys },
        offered,
        `release key set version ${offered.document.version} in ${what}`,
      );
      this.trusted = { fleet, version: offered.document.version, keys };
      this.saving = this.saving
        .then(() => writeFileAtomic(this.file, `${JSON.stringify(offered, null, 2)}\n`))
        .catch((err: unknown) =>
          this.onError(err, 'cannot keep the accepted release key set; it is taken again from the next target'),
        );
    }
    const release = target.release === null ? 'no release' : `release ${target.release.version} (${target.release.id})`;
    verifyTargetRelease(this.trusted.keys, target, `${release} in ${what}`);
  }

  /** Resolves once every accepted key set is on disk (or failed to be written, which was reported). */
  async saved(): Promise<void> {
    await this.saving;
  }
}

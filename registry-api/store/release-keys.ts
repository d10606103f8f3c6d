// The release keys each fleet trusts: one signed key-set document per fleet (protocol/release-signature.ts), stored
// as signed so it can be handed on to devices, which check it themselves. Versions go up by one per change; the
// compare-and-set on the version keeps two admins' concurrent changes from both landing.
import { Type } from '@sinclair/typebox';
import type { KeySetDocument, ReleaseSignature } from '../../protocol/release-signature.js';
import type { Audit } from './audit.js';
import { ConflictError, type ReleaseKeyStore } from './index.js';
import type { Database } from './sql/database.js';

const KeySetRow = Type.Object({ version: Type.Integer(), document: Type.String(), signature: Type.String() });

export function releaseKeysOn(db: Database, audit: Audit): ReleaseKeyStore {
  return {
    async get(fleet) {
      const row = await db.get(
        KeySetRow,
        'SELECT version, document, signature FROM fleet_release_keys WHERE fleet = ?',
        [fleet],
      );
      if (!row) return null;
      // Written by replace() only, from a validated document.
      return {
        document: JSON.parse(row.document) as KeySetDocument,
        signature: JSON.parse(row.signature) as ReleaseSignature,
      };
    },
    async replace(fleet, next, stamp) {
      return db.transaction(async (tx) => {
        const now = await tx.get(
          Type.Object({ version: Type.Integer() }),
          'SELECT version FROM fleet_release_keys WHERE fleet = ?',
          [fleet],
        );
        const current = now?.version ?? 0;
        if (next.document.version !== current + 1) {
          throw new ConflictError(
            `fleet '${fleet}' has release key set version ${current}; a change must be version ${current + 1}, ` +
              `not ${next.document.version} (read the set again and sign the change anew)`,
          );
        }
        const values = {
          fleet,
          version: next.document.version,
          document: JSON.stringify(next.document),
          signature: JSON.stringify(next.signature),
          updatedBy: stamp.actor,
          updatedAt: stamp.at,
        };
        if (now) {
          await tx.run(
            `UPDATE fleet_release_keys SET version = @version, document = @document, signature = @signature,
            updated_by = @updatedBy, updated_at = @updatedAt WHERE fleet = @fleet`,
            values,
          );
        } else {
          await tx.run(
            `INSERT INTO fleet_release_keys (fleet, version, document, signature, updated_by, updated_at)
            VALUES (@fleet, @version, @document, @signature, @updatedBy, @updatedAt)`,
            values,
          );
        }
        await audit.record(tx, stamp, {
          action: 'fleet.release-keys',
          target: `fleet:${fleet}`,
          fleet,
          detail: { version: next.document.version, keys: next.document.keys.length, signedBy: next.signature.keyId },
        });
        return next;
      });
    },
  };
}

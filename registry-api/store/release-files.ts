// The files releases carry (relative binds, configs, secrets), per fleet by digest. Content-addressed: a second
// upload of the same bytes changes nothing, so two pushes racing with the same file both succeed.
import { Type } from '@sinclair/typebox';
import type { ReleaseFileStore } from './index.js';
import type { Database } from './sql/database.js';

const ContentRow = Type.Object({ content: Type.String() });
const DigestRow = Type.Object({ digest: Type.String() });

export function releaseFilesOn(db: Database): ReleaseFileStore {
  return {
    async put(fleet, digest, content, at) {
      const result = await db.run(
        `INSERT INTO release_files (fleet, digest, size, content, created_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (fleet, digest) DO NOTHING`,
        [fleet, digest, content.length, content.toString('base64'), at],
      );
      return result.changes > 0;
    },
    async get(fleet, digest) {
      const row = await db.get(ContentRow, 'SELECT content FROM release_files WHERE fleet = ? AND digest = ?', [
        fleet,
        digest,
      ]);
      return row === null ? null : Buffer.from(row.content, 'base64');
    },
    async missing(fleet, digests) {
      if (digests.length === 0) return [];
      const have = new Set(
        (
          await db.all(
            DigestRow,
            `SELECT digest FROM release_files WHERE fleet = ? AND digest IN (${digests.map(() => '?').join(', ')})`,
            [fleet, ...digests],
          )
        ).map((r) => r.digest),
      );
      return [...new Set(digests)].filter((d) => !have.has(d));
    },
  };
}

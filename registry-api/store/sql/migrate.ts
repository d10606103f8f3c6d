// The schema as numbered steps, applied by one runner on either database. A step, once released, never changes:
// a later change is a new step. Each runs in its own transaction together with its row in schema_migrations, so
// a crash leaves either the step fully applied or not at all; two processes migrating at once apply each step
// once (write transactions are serialized on both databases, and each step checks again inside its own).
import { Type } from '@sinclair/typebox';
import type { Database, Dialect, Queryable } from './database.js';

export interface Migration {
  version: number;
  name: string;
  /** One script for both databases, or one for each where their SQL differs. */
  sql: string | Readonly<Record<Dialect, string>>;
}

const VersionRow = Type.Object({ version: Type.Integer() });

export function scriptFor(migration: Migration, dialect: Dialect): string {
  return typeof migration.sql === 'string' ? migration.sql : migration.sql[dialect];
}

async function appliedVersions(db: Queryable): Promise<Set<number>> {
  return new Set((await db.all(VersionRow, 'SELECT version FROM schema_migrations')).map((row) => row.version));
}

/** Applies the steps the database lacks, in order; returns the versions applied now. */
export async function migrate(db: Database, migrations: readonly Migration[]): Promise<number[]> {
  const newest = Math.max(0, ...migrations.map((m) => m.version));
  const applied = await db.transaction(async (tx) => {
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL
    )`);
    return appliedVersions(tx);
  });
  const unknown = [...applied].filter((v) => v > newest);
  if (unknown.length > 0) {
    // A newer Skiff wrote this database: running old code on it could corrupt it.
    throw new Error(
      `database schema version ${Math.max(...unknown)} is newer than this Skiff knows (${newest}); upgrade Skiff`,
    );
  }
  const done: number[] = [];
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(migration.version)) continue;
    const ran = await db.transaction(async (tx) => {
      if ((await appliedVersions(tx)).has(migration.version)) return false;
      try {
        await tx.exec(scriptFor(migration, db.dialect));
      } catch (err) {
        throw new Error(
          `schema migration ${migration.version} (${migration.name}) failed on ${db.dialect}: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      }
      await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        migration.version,
        migration.name,
        new Date().toISOString(),
      ]);
      return true;
    });
    if (ran) done.push(migration.version);
  }
  return done;
}

// Fresh PostgreSQL databases in the test environment's server (env.json postgresUrl), one per test or test
// server, so suites and parallel servers never see each other's rows. Dropped again by drop().
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadTestEnv } from './env.js';

export interface ScratchDatabase {
  /** postgres://... of the new, empty database. */
  url: string;
  name: string;
  /** Drops it, closing what is still connected to it. */
  drop(): Promise<void>;
}

async function onServer<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: loadTestEnv().postgresUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function scratchPostgresDatabase(prefix = 'skiff_test'): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  // template0 with C.UTF-8: text sorts by code point, as on SQLite (and as a production database should be made).
  await onServer((client) =>
    client.query(
      `CREATE DATABASE "${name}" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'`,
    ),
  );
  const url = new URL(loadTestEnv().postgresUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      await onServer((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

// The query layer on PostgreSQL (pg): a connection pool for single statements, a dedicated connection per
// transaction. Write transactions take one advisory lock first, so they run one at a time as on SQLite: the
// store's read-then-write transactions (next release number, "is this key taken") stay correct at READ
// COMMITTED, with no serialization failures to retry. Reads never wait for that lock.
import pg from 'pg';
import type { TSchema } from '@sinclair/typebox';
import { createLogger, type Logger } from '../../../lib/logger.js';
import { rowsOf, type Database, type Queryable, type SqlParams } from './database.js';
import { postgresErrorOf, refuseNul } from './errors.js';
import { toNumbered } from './placeholders.js';
import { insideTransaction, refuseInsideTransaction } from './serial.js';

/** pg_advisory_xact_lock key of the store's write transactions ("skiff" in ASCII). */
const WRITE_LOCK_KEY = '495873369702';

const INT8_OID = 20;

/**
 * COUNT(*), SUM and BIGINT ids arrive as int8, which pg hands over as strings (it may exceed 2^53). Skiff's
 * never come close; one that did would be a bug to stop at, not to round.
 */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`the int8 value ${text} does not fit a JavaScript number`);
  return n;
}

const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? parseInt8
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PostgresOptions {
  /** Connections in the pool; default 10. */
  max?: number;
  /** Where errors of idle pooled connections (server restart, network) are logged. */
  logger?: Logger;
}

type Client = Pick<pg.PoolClient, 'query'>;

function handleOn(client: Client, live: () => void): Queryable {
  const all = async <S extends TSchema>(row: S, sql: string, params?: SqlParams) => {
    live();
    let result: pg.QueryResult;
    try {
      refuseNul(sql, params);
      const { text, values } = toNumbered(sql, params);
      result = await client.query(text, values);
    } catch (err) {
      throw postgresErrorOf(err, sql);
    }
    return rowsOf(row, result.rows, sql);
  };
  return {
    dialect: 'postgres',
    all,
    get: async (row, sql, params) => (await all(row, sql, params))[0] ?? null,
    async run(sql, params) {
      live();
      try {
        refuseNul(sql, params);
        const { text, values } = toNumbered(sql, params);
        const result = await client.query(text, values);
        return { changes: result.rowCount ?? 0 };
      } catch (err) {
        throw postgresErrorOf(err, sql);
      }
    },
    async exec(script) {
      live();
      try {
        // Without values pg uses the simple query protocol, which takes several statements at once.
        await client.query(script);
      } catch (err) {
        throw postgresErrorOf(err, script);
      }
    },
  };
}

/** Connects (once, to fail early with the reason) and returns the database behind `url` (postgres://...). */
export async function openPostgres(url: string, options: PostgresOptions = {}): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, types });
  const logger = options.logger ?? createLogger('registry-api', { component: 'postgres' });
  let closed = false;
  // Connections still shutting down after close() may be cut by the server (a dropped database): nobody cares then.
  pool.on('error', (err) => {
    if (!closed) logger.error({ err }, `an idle PostgreSQL connection failed: ${err.message}`);
  });
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new Error(
      `cannot connect to PostgreSQL at ${redacted(url)}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  const root = handleOn(pool, () => refuseInsideTransaction(database, 'a statement'));
  const database: Database = {
    ...root,
    async transaction(fn) {
      refuseInsideTransaction(database, 'a nested transaction');
      const client = await pool.connect();
      let open = true;
      const tx = handleOn(client, () => {
        if (!open) throw new Error('a statement on a transaction that has already ended');
      });
      let broken = false;
      try {
        await client.query('BEGIN');
        await client.query(`SELECT pg_advisory_xact_lock(${WRITE_LOCK_KEY})`);
        const result = await insideTransaction(database, () => fn(tx));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        // A connection that cannot even roll back is not given back to the pool.
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw err;
      } finally {
        open = false;
        client.release(broken);
      }
    },
    async close() {
      closed = true;
      await pool.end();
    },
  };
  return database;
}

/** The URL without its password, for messages. */
export function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

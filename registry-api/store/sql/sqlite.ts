// The query layer on SQLite (better-sqlite3): one file, WAL so readers in other processes never wait for a
// writer, one connection shared by the whole process. better-sqlite3 answers synchronously; statements are queued
// behind a lock only so that a transaction's awaits cannot let other statements into it.
import { chmodSync, closeSync, openSync, statSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import type { Static, TSchema } from '@sinclair/typebox';
import { rowsOf, type Database, type Queryable, type RunResult, type SqlParams } from './database.js';
import { refuseNul, sqliteErrorOf } from './errors.js';
import { insideTransaction, refuseInsideTransaction, SerialLock } from './serial.js';

interface SyncHandle {
  all<S extends TSchema>(row: S, sql: string, params?: SqlParams): Static<S>[];
  run(sql: string, params?: SqlParams): RunResult;
  exec(script: string): void;
}

/**
 * The database holds every device's and user's token hashes, config vars and audit trail: readable by the API's
 * user only, whatever the mode of the directory it lies in. Created empty with mode 0600 when absent (SQLite takes
 * an empty file for a new database and gives its -wal and -shm files the main file's mode); a file of an older
 * version with a looser mode is tightened.
 */
function makePrivate(file: string): void {
  if (file === '' || file === ':memory:' || file.startsWith('file:')) return;
  closeSync(openSync(file, 'a', 0o600));
  for (const each of [file, `${file}-wal`, `${file}-shm`]) {
    let mode: number;
    try {
      mode = statSync(each).mode & 0o777;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    if ((mode & 0o077) !== 0) chmodSync(each, mode & 0o700);
  }
}

/** How long a statement waits for another process's lock (a backup, a second API during a restart). */
const BUSY_TIMEOUT_MS = 5_000;

/**
 * Switches the file to WAL. Two processes opening a new database at once (two API instances starting, two
 * migrations) both ask for the switch, which needs an exclusive lock; SQLite answers the loser SQLITE_BUSY at once,
 * without waiting in its busy handler, since waiting while holding its own shared lock could deadlock. Once the
 * other process is done the file is in WAL already and asking again succeeds, so it is asked again for as long as
 * any statement would wait.
 */
function enableWal(db: BetterSqlite3.Database): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      const busy = (err as { code?: unknown }).code === 'SQLITE_BUSY';
      if (!busy || Date.now() >= deadline) throw err;
      // A synchronous pause: opening is synchronous, and better-sqlite3's own busy wait blocks the same way.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

export function openSqlite(file: string): Database {
  let db: BetterSqlite3.Database;
  try {
    makePrivate(file);
    db = new BetterSqlite3(file, { timeout: BUSY_TIMEOUT_MS });
    enableWal(db);
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL');
  } catch (err) {
    throw new Error(`cannot open the SQLite database ${file}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const conn = db;
  const statements = new Map<string, BetterSqlite3.Statement<unknown[], unknown>>();
  const prepare = (sql: string): BetterSqlite3.Statement<unknown[], unknown> => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = conn.prepare<unknown[], unknown>(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
  // better-sqlite3 takes positional values spread out, named ones as one object.
  const bind = (params: SqlParams | undefined): unknown[] =>
    params === undefined ? [] : Array.isArray(params) ? params : [params];
  const guarded = <T>(sql: string, work: () => T): T => {
    try {
      return work();
    } catch (err) {
      throw sqliteErrorOf(err, sql);
    }
  };
  const sync: SyncHandle = {
    all: (row, sql, params) =>
      guarded(sql, () => {
        refuseNul(sql, params);
        return rowsOf(row, prepare(sql).all(...bind(params)), sql);
      }),
    run: (sql, params) =>
      guarded(sql, () => {
        refuseNul(sql, params);
        return { changes: prepare(sql).run(...bind(params)).changes };
      }),
    exec: (script) =>
      guarded(script, () => {
        conn.exec(script);
      }),
  };

  const lock = new SerialLock();
  const database: Database = {
    dialect: 'sqlite',
    all(row, sql, params) {
      refuseInsideTransaction(database, 'a query');
      return lock.runSync(() => sync.all(row, sql, params));
    },
    async get(row, sql, params) {
      return (await database.all(row, sql, params))[0] ?? null;
    },
    run(sql, params) {
      refuseInsideTransaction(database, 'a statement');
      return lock.runSync(() => sync.run(sql, params));
    },
    exec(script) {
      refuseInsideTransaction(database, 'a script');
      return lock.runSync(() => sync.exec(script));
    },
    transaction(fn) {
      refuseInsideTransaction(database, 'a nested transaction');
      return lock.run(async () => {
        let open = true;
        const live = (): SyncHandle => {
          if (!open) throw new Error('a statement on a transaction that has already ended');
          return sync;
        };
        const tx: Queryable = {
          dialect: 'sqlite',
          all: async (row, sql, params) => live().all(row, sql, params),
          get: async (row, sql, params) => live().all(row, sql, params)[0] ?? null,
          run: async (sql, params) => live().run(sql, params),
          exec: async (script) => live().exec(script),
        };
        // IMMEDIATE takes the write lock now, so a second process cannot make this transaction fail half-way.
        sync.exec('BEGIN IMMEDIATE');
        try {
          const result = await insideTransaction(database, () => fn(tx));
          sync.exec('COMMIT');
          return result;
        } catch (err) {
          if (conn.inTransaction) conn.exec('ROLLBACK');
          throw err;
        } finally {
          open = false;
        }
      });
    },
    close() {
      return lock.run(() => {
        conn.close();
      });
    },
  };
  return database;
}

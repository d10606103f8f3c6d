// The one interface the store's SQL goes through, whichever database answers it: SQLite embedded (sqlite.ts) or
// PostgreSQL (postgres.ts). Store code writes one SQL text for both (placeholders `?` with an array, or `@name`
// with an object) and names the shape of the rows it expects: rows are checked against that schema where they
// leave the driver, so nothing downstream trusts a cast.
import { Type, type Static, type TNull, type TSchema, type TUnion } from '@sinclair/typebox';
import { check } from '../../../protocol/validate.js';

export type Dialect = 'sqlite' | 'postgres';

/** What a parameter may be on both databases: booleans are 0/1, JSON is TEXT, times are ISO-8601 TEXT. */
export type SqlValue = string | number | null;
export type SqlParams = readonly SqlValue[] | Readonly<Record<string, SqlValue>>;

export interface RunResult {
  /** Rows inserted, updated or deleted by the statement. */
  changes: number;
}

export interface Queryable {
  readonly dialect: Dialect;
  /** Every row, each checked against `row`. */
  all<S extends TSchema>(row: S, sql: string, params?: SqlParams): Promise<Static<S>[]>;
  /** The first row, or null. */
  get<S extends TSchema>(row: S, sql: string, params?: SqlParams): Promise<Static<S> | null>;
  run(sql: string, params?: SqlParams): Promise<RunResult>;
  /** Several statements without parameters, for migrations. */
  exec(script: string): Promise<void>;
}

export interface Database extends Queryable {
  /**
   * Runs `fn` in one write transaction: committed when it resolves, rolled back when it throws. Write
   * transactions run one at a time on both databases, as SQLite does by nature: a read-then-write inside one
   * (the next release number, "is this key taken") cannot race another. `fn` must use `tx`, not this handle, and
   * do database work only: on SQLite every other statement waits until it ends.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Narrows driver rows to the caller's row type, or says which statement returned what. */
export function rowsOf<S extends TSchema>(row: S, rows: readonly unknown[], sql: string): Static<S>[] {
  for (const [i, value] of rows.entries()) {
    const issues = check(row, value);
    if (issues.length > 0) {
      const what = issues.map((issue) => `${issue.path || '/'}: ${issue.message}`).join('; ');
      throw new Error(`row ${i} of \`${oneLine(sql)}\` does not have the expected shape: ${what}`);
    }
  }
  return rows as Static<S>[];
}

/** The statement as an error message quotes it: one line, at most 200 characters. */
export function oneLine(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 197)}...` : flat;
}

/** A column that may be NULL, for row schemas. */
export function Nullable<T extends TSchema>(schema: T): TUnion<[T, TNull]> {
  return Type.Union([schema, Type.Null()]);
}

// Database errors as the store tells them apart, the same on SQLite and PostgreSQL, with the statement that
// failed in the message.
import { oneLine, type SqlParams, type SqlValue } from './database.js';

/** The constraint a statement broke; 'other' for anything that is not a constraint violation. */
export type SqlErrorKind = 'unique' | 'foreign-key' | 'check' | 'not-null' | 'invalid-text' | 'other';

export class SqlError extends Error {
  constructor(
    readonly kind: SqlErrorKind,
    message: string,
    readonly sql: string,
    options?: { cause?: unknown },
  ) {
    super(`${message} (in \`${oneLine(sql)}\`)`, options);
    this.name = 'SqlError';
  }
}

/**
 * PostgreSQL text cannot hold NUL; SQLite's can. Both drivers refuse such a value before the database sees it, so
 * the two answer alike (a name with NUL in it is bad input, never a row).
 */
export function refuseNul(sql: string, params: SqlParams | undefined): void {
  if (params === undefined) return;
  const values: readonly SqlValue[] = Array.isArray(params) ? params : Object.values(params);
  for (const value of values) {
    if (typeof value === 'string' && value.includes('\u0000')) {
      throw new SqlError(
        'invalid-text',
        `a text value contains the NUL character, which the database cannot hold: ${JSON.stringify(value.slice(0, 80))}`,
        sql,
      );
    }
  }
}

export function isUniqueViolation(err: unknown): boolean {
  return err instanceof SqlError && err.kind === 'unique';
}

const SQLITE_KINDS: Readonly<Record<string, SqlErrorKind>> = {
  SQLITE_CONSTRAINT_UNIQUE: 'unique',
  SQLITE_CONSTRAINT_PRIMARYKEY: 'unique',
  SQLITE_CONSTRAINT_FOREIGNKEY: 'foreign-key',
  SQLITE_CONSTRAINT_CHECK: 'check',
  SQLITE_CONSTRAINT_NOTNULL: 'not-null',
};

// https://www.postgresql.org/docs/15/errcodes-appendix.html
const POSTGRES_KINDS: Readonly<Record<string, SqlErrorKind>> = {
  '23505': 'unique',
  '23503': 'foreign-key',
  '23514': 'check',
  '23502': 'not-null',
};

function codeOf(err: unknown): string | null {
  if (typeof err !== 'object' || err === null || !('code' in err)) return null;
  return typeof err.code === 'string' ? err.code : null;
}

/** Wraps what a driver threw; errors of this layer itself pass through. */
export function sqlErrorOf(err: unknown, sql: string, table: Readonly<Record<string, SqlErrorKind>>): Error {
  if (err instanceof SqlError) return err;
  const code = codeOf(err);
  const kind = (code === null ? undefined : table[code]) ?? 'other';
  const message = err instanceof Error ? err.message : String(err);
  return new SqlError(kind, code === null ? message : `${message} [${code}]`, sql, { cause: err });
}

export const sqliteErrorOf = (err: unknown, sql: string): Error => sqlErrorOf(err, sql, SQLITE_KINDS);
export const postgresErrorOf = (err: unknown, sql: string): Error => sqlErrorOf(err, sql, POSTGRES_KINDS);

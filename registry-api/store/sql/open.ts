// Which database a location names: a postgres:// (or postgresql://) URL is PostgreSQL, anything else a SQLite file.
import type { Logger } from '../../../lib/logger.js';
import type { Database } from './database.js';
import { openPostgres } from './postgres.js';
import { openSqlite } from './sqlite.js';

export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

export async function openDatabase(location: string, logger?: Logger): Promise<Database> {
  return isPostgresUrl(location) ? openPostgres(location, logger ? { logger } : {}) : openSqlite(location);
}

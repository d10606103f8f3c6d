// The audit log on SQLite: appended to by the other tables' changes inside their own transactions, read newest
// first. The table refuses UPDATE and DELETE (migration 2).
import type BetterSqlite3 from 'better-sqlite3';
import type { AuditEntry } from '../../protocol/access.js';
import type { AuditQuery, AuditStore, Stamp } from './index.js';

export interface AuditEvent {
  action: string;
  target: string;
  fleet: string | null;
  detail: Record<string, unknown>;
}

interface AuditRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  fleet: string | null;
  detail: string;
}

export interface SqliteAudit extends AuditStore {
  /** Call inside the transaction of the change it describes. */
  record(stamp: Stamp, event: AuditEvent): void;
}

function entryOf(row: AuditRow): AuditEntry {
  return { ...row, detail: JSON.parse(row.detail) as Record<string, unknown> };
}

export function sqliteAudit(db: BetterSqlite3.Database): SqliteAudit {
  const insert = db.prepare(`INSERT INTO audit_log (at, actor, action, target, fleet, detail)
    VALUES (@at, @actor, @action, @target, @fleet, @detail)`);
  // One prepared statement per combination of filters, built from fixed fragments, so each can use its index.
  const selects = new Map<string, BetterSqlite3.Statement<Record<string, string | number>, AuditRow>>();
  const selectFor = (conditions: string[]): BetterSqlite3.Statement<Record<string, string | number>, AuditRow> => {
    const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
    let statement = selects.get(where);
    if (!statement) {
      statement = db.prepare<Record<string, string | number>, AuditRow>(`SELECT * FROM audit_log ${where} ORDER BY id DESC LIMIT @limit`);
      selects.set(where, statement);
    }
    return statement;
  };

  return {
    record(stamp, event) {
      insert.run({ ...stamp, ...event, detail: JSON.stringify(event.detail) });
    },
    async list(query: AuditQuery) {
      const conditions: string[] = [];
      const params: Record<string, string | number> = { limit: query.limit };
      if (query.fleet !== undefined) {
        conditions.push('fleet = @fleet');
        params.fleet = query.fleet;
      }
      if (query.device !== undefined) {
        conditions.push('target = @target');
        params.target = `device:${query.device}`;
      }
      if (query.before !== undefined) {
        conditions.push('id < @before');
        params.before = query.before;
      }
      return selectFor(conditions).all(params).map(entryOf);
    },
  };
}

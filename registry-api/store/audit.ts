// The audit log: appended to by the other tables' changes inside their own transactions, read newest first. The
// table refuses UPDATE and DELETE (migration 2).
import { Type } from '@sinclair/typebox';
import type { AuditEntry } from '../../protocol/access.js';
import type { AuditQuery, AuditStore, Stamp } from './index.js';
import { Nullable, type Database, type Queryable, type SqlValue } from './sql/database.js';

export interface AuditEvent {
  action: string;
  target: string;
  fleet: string | null;
  detail: Record<string, unknown>;
}

const AuditRow = Type.Object({
  id: Type.Integer(),
  at: Type.String(),
  actor: Type.String(),
  action: Type.String(),
  target: Type.String(),
  fleet: Nullable(Type.String()),
  detail: Type.String(),
});

export interface Audit extends AuditStore {
  /** Call with the transaction of the change it describes. */
  record(tx: Queryable, stamp: Stamp, event: AuditEvent): Promise<void>;
}

export function auditLog(db: Database): Audit {
  return {
    async record(tx, stamp, event) {
      await tx.run(
        `INSERT INTO audit_log (at, actor, action, target, fleet, detail)
        VALUES (@at, @actor, @action, @target, @fleet, @detail)`,
        {
          at: stamp.at,
          actor: stamp.actor,
          action: event.action,
          target: event.target,
          fleet: event.fleet,
          detail: JSON.stringify(event.detail),
        },
      );
    },
    async list(query: AuditQuery): Promise<AuditEntry[]> {
      // Built from fixed fragments only, so each combination can use its index.
      const conditions: string[] = [];
      const params: Record<string, SqlValue> = { limit: query.limit };
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
      const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
      const rows = await db.all(AuditRow, `SELECT * FROM audit_log ${where} ORDER BY id DESC LIMIT @limit`, params);
      return rows.map((row) => ({ ...row, detail: JSON.parse(row.detail) as Record<string, unknown> }));
    },
  };
}

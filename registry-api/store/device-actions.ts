// Remote actions (protocol/device-actions.ts, migration 26): one row per action, from the operator's request to the
// device's result. An action's expiry is not written by a timer: a pending or delivered action whose expires_at has
// passed reads as expired, and is no longer handed out. Each is handed to its device once (pending -> delivered in
// one statement), so a device that fetches twice, or two instances answering the same device, never run a reboot
// twice. Audited without moving the device's target generation: an action changes nothing the device should run.
import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import {
  MAX_PENDING_ACTIONS,
  type DeviceAction,
  type DeviceActionKind,
  type DeviceActionStatus,
} from '../../protocol/device-actions.js';
import type { Audit } from './audit.js';
import { ConflictError, type Stamp } from './index.js';
import { Nullable, type Database } from './sql/database.js';

const ActionRow = Type.Object({
  id: Type.String(),
  uuid: Type.String(),
  fleet: Type.String(),
  action: Type.String(),
  service: Nullable(Type.String()),
  status: Type.String(),
  requested_by: Type.String(),
  created_at: Type.String(),
  expires_at: Type.String(),
  delivered_at: Nullable(Type.String()),
  finished_at: Nullable(Type.String()),
  message: Nullable(Type.String()),
  has_diagnostics: Type.Integer(),
});
type Row = typeof ActionRow.static;

const COLUMNS = `id, uuid, fleet, action, service, status, requested_by, created_at, expires_at, delivered_at,
  finished_at, message, CASE WHEN diagnostics IS NULL THEN 0 ELSE 1 END AS has_diagnostics`;

export interface NewDeviceAction {
  uuid: string;
  fleet: string;
  action: DeviceActionKind;
  service: string | null;
  expiresAt: string;
}

export interface DeviceActionOutcome {
  status: 'succeeded' | 'failed';
  message: string | null;
  /** The diagnostics bundle as JSON text (already checked and bounded). */
  diagnostics: string | null;
}

export interface DeviceActionStore {
  /** Records the action; ConflictError when the device already has MAX_PENDING_ACTIONS waiting. */
  create(action: NewDeviceAction, stamp: Stamp): Promise<DeviceAction>;
  get(uuid: string, id: string, now: string): Promise<DeviceAction | null>;
  /** The bundle's JSON text, or null when there is none. */
  diagnostics(uuid: string, id: string): Promise<string | null>;
  /** Ids of the device's pending actions that have not expired, oldest first. */
  pendingIds(uuid: string, now: string): Promise<string[]>;
  /** The device's pending actions that have not expired, marked delivered: each is handed out once. */
  take(uuid: string, now: string): Promise<DeviceAction[]>;
  /** Records the device's result of an action it was handed; null when it has no such delivered action. */
  finish(uuid: string, id: string, outcome: DeviceActionOutcome, at: string): Promise<DeviceAction | null>;
}

function isKind(text: string): text is DeviceActionKind {
  return ['restart', 'stop', 'start', 'reboot', 'diagnose'].includes(text);
}

function statusOf(row: Row, now: string): DeviceActionStatus {
  const status = row.status;
  if ((status === 'pending' || status === 'delivered') && row.expires_at <= now) return 'expired';
  if (status === 'pending' || status === 'delivered' || status === 'succeeded' || status === 'failed') return status;
  return 'expired';
}

function actionOf(row: Row, now: string): DeviceAction {
  if (!isKind(row.action)) throw new Error(`device action ${row.id} has an unknown kind '${row.action}'`);
  const status = statusOf(row, now);
  return {
    id: row.id,
    device: row.uuid,
    fleet: row.fleet,
    action: row.action,
    service: row.service,
    status,
    requestedBy: row.requested_by,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    deliveredAt: row.delivered_at,
    finishedAt: row.finished_at,
    message:
      row.message ??
      (status === 'expired'
        ? row.delivered_at === null
          ? 'the device did not fetch it before it expired (offline?)'
          : 'the device fetched it but sent no result before it expired'
        : null),
    hasDiagnostics: row.has_diagnostics === 1,
  };
}

export function deviceActionsOn(db: Database, audit: Audit): DeviceActionStore {
  const read = (uuid: string, id: string) =>
    db.get(ActionRow, `SELECT ${COLUMNS} FROM device_actions WHERE uuid = ? AND id = ?`, [uuid, id]);
  return {
    async create(action, stamp) {
      const id = randomUUID();
      await db.transaction(async (tx) => {
        const waiting = await tx.get(
          Type.Object({ n: Type.Integer() }),
          `SELECT COUNT(*) AS n FROM device_actions WHERE uuid = ? AND status = 'pending' AND expires_at > ?`,
          [action.uuid, stamp.at],
        );
        if ((waiting?.n ?? 0) >= MAX_PENDING_ACTIONS) {
          throw new ConflictError(
            `device '${action.uuid}' already has ${MAX_PENDING_ACTIONS} actions waiting for it (the most allowed); ` +
              'wait until it fetches them or they expire',
          );
        }
        await tx.run(
          `INSERT INTO device_actions (id, uuid, fleet, action, service, status, requested_by, created_at, expires_at)
           VALUES (@id, @uuid, @fleet, @action, @service, 'pending', @requestedBy, @createdAt, @expiresAt)`,
          {
            id,
            uuid: action.uuid,
            fleet: action.fleet,
            action: action.action,
            service: action.service,
            requestedBy: stamp.actor,
            createdAt: stamp.at,
            expiresAt: action.expiresAt,
          },
        );
        await audit.record(tx, stamp, {
          action: 'device.action',
          target: `device:${action.uuid}`,
          fleet: action.fleet,
          detail: { id, action: action.action, service: action.service, expiresAt: action.expiresAt },
        });
      });
      const row = await read(action.uuid, id);
      if (row === null) throw new Error(`device action ${id} is gone right after it was recorded`);
      return actionOf(row, stamp.at);
    },
    async get(uuid, id, now) {
      const row = await read(uuid, id);
      return row === null ? null : actionOf(row, now);
    },
    async diagnostics(uuid, id) {
      const row = await db.get(
        Type.Object({ diagnostics: Nullable(Type.String()) }),
        'SELECT diagnostics FROM device_actions WHERE uuid = ? AND id = ?',
        [uuid, id],
      );
      return row?.diagnostics ?? null;
    },
    async pendingIds(uuid, now) {
      const rows = await db.all(
        Type.Object({ id: Type.String() }),
        `SELECT id FROM device_actions WHERE uuid = ? AND status = 'pending' AND expires_at > ?
         ORDER BY created_at, id LIMIT ${MAX_PENDING_ACTIONS}`,
        [uuid, now],
      );
      return rows.map((r) => r.id);
    },
    async take(uuid, now) {
      return db.transaction(async (tx) => {
        const rows = await tx.all(
          ActionRow,
          `SELECT ${COLUMNS} FROM device_actions WHERE uuid = ? AND status = 'pending' AND expires_at > ?
           ORDER BY created_at, id LIMIT ${MAX_PENDING_ACTIONS}`,
          [uuid, now],
        );
        const taken: DeviceAction[] = [];
        for (const row of rows) {
          const { changes } = await tx.run(
            `UPDATE device_actions SET status = 'delivered', delivered_at = ? WHERE id = ? AND status = 'pending'`,
            [now, row.id],
          );
          if (changes === 1) taken.push(actionOf({ ...row, status: 'delivered', delivered_at: now }, now));
        }
        return taken;
      });
    },
    async finish(uuid, id, outcome, at) {
      const done = await db.transaction(async (tx) => {
        const row = await tx.get(ActionRow, `SELECT ${COLUMNS} FROM device_actions WHERE uuid = ? AND id = ?`, [
          uuid,
          id,
        ]);
        if (row === null || row.status !== 'delivered') return false;
        await tx.run(
          `UPDATE device_actions SET status = @status, finished_at = @at, message = @message, diagnostics = @diagnostics
           WHERE id = @id`,
          { status: outcome.status, at, message: outcome.message, diagnostics: outcome.diagnostics, id },
        );
        await audit.record(
          tx,
          { actor: `device:${uuid}`, at },
          {
            action: 'device.action.result',
            target: `device:${uuid}`,
            fleet: row.fleet,
            detail: { id, action: row.action, service: row.service, status: outcome.status, message: outcome.message },
          },
        );
        return true;
      });
      if (!done) return null;
      const row = await read(uuid, id);
      return row === null ? null : actionOf(row, at);
    },
  };
}

// Webhooks and their delivery queue (migration 23). Deliveries are rows, not timers: an API restart, or another
// instance, picks up what is due. An instance claims due deliveries in one write transaction by moving their next
// attempt past a lease, so two instances never send the same attempt; one that dies mid-attempt leaves it to be
// retried when the lease runs out (a receiver may then see a delivery twice: Skiff-Delivery tells it).
import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FleetEventKind } from '../../protocol/fleet-events.js';
import type { Webhook, WebhookDelivery } from '../../protocol/webhooks.js';
import type { Audit } from './audit.js';
import type { Stamp } from './index.js';
import { Nullable, type Database } from './sql/database.js';

const WebhookRow = Type.Object({
  id: Type.String(),
  fleet: Nullable(Type.String()),
  url: Type.String(),
  kinds: Type.String(),
  secret: Type.String(),
  created_by: Type.String(),
  created_at: Type.String(),
});

const DeliveryRow = Type.Object({
  id: Type.String(),
  webhook_id: Type.String(),
  event_id: Type.String(),
  kind: Type.String(),
  body: Type.String(),
  state: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  attempts: Type.Integer(),
  next_attempt_ms: Type.Integer(),
  last_status: Nullable(Type.Integer()),
  last_error: Nullable(Type.String()),
  created_at: Type.String(),
  delivered_at: Nullable(Type.String()),
});

/** A webhook with its secret: what the dispatcher signs with. Never leaves the API after creation. */
export interface WebhookRecord extends Webhook {
  secret: string;
}

export interface NewWebhookRecord {
  fleet: string | null;
  url: string;
  kinds: FleetEventKind[];
}

/** A delivery claimed for an attempt: what to send, where, signed with which secret. */
export interface ClaimedDelivery {
  id: string;
  webhookId: string;
  url: string;
  secret: string;
  kind: string;
  body: string;
  /** Attempts made before this one. */
  attempts: number;
}

export type AttemptOutcome =
  | { kind: 'delivered'; status: number; at: string }
  /** `nextAttemptMs` null: no attempt is left, the delivery failed for good. */
  | { kind: 'failed'; status: number | null; error: string; nextAttemptMs: number | null };

export interface WebhookStore {
  create(webhook: NewWebhookRecord, stamp: Stamp): Promise<WebhookRecord>;
  list(): Promise<WebhookRecord[]>;
  get(id: string): Promise<WebhookRecord | null>;
  /** False when there was no such webhook. Its deliveries go with it. */
  remove(id: string, stamp: Stamp): Promise<boolean>;
  /** Queues the event for each webhook, due at `dueMs`; an event already queued for a webhook is not queued again. */
  enqueue(
    webhookIds: readonly string[],
    event: { id: string; kind: string; body: string },
    dueMs: number,
    at: string,
  ): Promise<void>;
  /** Claims at most `limit` deliveries due at `nowMs`, leasing them until `nowMs + leaseMs`. */
  claim(nowMs: number, leaseMs: number, limit: number): Promise<ClaimedDelivery[]>;
  /** Records how an attempt went. */
  settle(id: string, outcome: AttemptOutcome): Promise<void>;
  /** Newest first. */
  deliveries(webhookId: string, limit: number): Promise<WebhookDelivery[]>;
}

function webhookOf(row: typeof WebhookRow.static): WebhookRecord {
  return {
    id: row.id,
    fleet: row.fleet,
    url: row.url,
    kinds: JSON.parse(row.kinds) as FleetEventKind[],
    createdBy: row.created_by,
    createdAt: row.created_at,
    secret: row.secret,
  };
}

const WEBHOOK_COLUMNS = 'id, fleet, url, kinds, secret, created_by, created_at';

export function webhooksOn(db: Database, audit: Audit): WebhookStore {
  return {
    async create(webhook, stamp) {
      const record: WebhookRecord = {
        id: `wh_${randomBytes(8).toString('hex')}`,
        fleet: webhook.fleet,
        url: webhook.url,
        kinds: webhook.kinds,
        createdBy: stamp.actor,
        createdAt: stamp.at,
        secret: `whsec_${randomBytes(24).toString('base64url')}`,
      };
      await db.transaction(async (tx) => {
        await tx.run(`INSERT INTO webhooks (${WEBHOOK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`, [
          record.id,
          record.fleet,
          record.url,
          JSON.stringify(record.kinds),
          record.secret,
          record.createdBy,
          record.createdAt,
        ]);
        await audit.record(tx, stamp, {
          action: 'webhook.create',
          target: `webhook:${record.id}`,
          fleet: record.fleet,
          detail: { url: record.url, kinds: record.kinds },
        });
      });
      return record;
    },
    async list() {
      const rows = await db.all(WebhookRow, `SELECT ${WEBHOOK_COLUMNS} FROM webhooks ORDER BY created_at, id`);
      return rows.map(webhookOf);
    },
    async get(id) {
      const row = await db.get(WebhookRow, `SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?`, [id]);
      return row === null ? null : webhookOf(row);
    },
    async remove(id, stamp) {
      return db.transaction(async (tx) => {
        const row = await tx.get(WebhookRow, `SELECT ${WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?`, [id]);
        if (row === null) return false;
        await tx.run('DELETE FROM webhook_deliveries WHERE webhook_id = ?', [id]);
        await tx.run('DELETE FROM webhooks WHERE id = ?', [id]);
        await audit.record(tx, stamp, {
          action: 'webhook.remove',
          target: `webhook:${id}`,
          fleet: row.fleet,
          detail: { url: row.url },
        });
        return true;
      });
    },
    async enqueue(webhookIds, event, dueMs, at) {
      if (webhookIds.length === 0) return;
      await db.transaction(async (tx) => {
        for (const webhookId of webhookIds) {
          await tx.run(
            `INSERT INTO webhook_deliveries (id, webhook_id, event_id, kind, body, state, attempts, next_attempt_ms,
              created_at)
            SELECT CAST(? AS TEXT), id, CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), 'pending', 0,
              CAST(? AS BIGINT), CAST(? AS TEXT)
            FROM webhooks WHERE id = ?
            ON CONFLICT (webhook_id, event_id) DO NOTHING`,
            [`dl_${randomBytes(8).toString('hex')}`, event.id, event.kind, event.body, dueMs, at, webhookId],
          );
        }
      });
    },
    async claim(nowMs, leaseMs, limit) {
      return db.transaction(async (tx) => {
        const due = await tx.all(
          Type.Object({
            id: Type.String(),
            webhook_id: Type.String(),
            kind: Type.String(),
            body: Type.String(),
            attempts: Type.Integer(),
            url: Type.String(),
            secret: Type.String(),
          }),
          `SELECT d.id, d.webhook_id, d.kind, d.body, d.attempts, w.url, w.secret
          FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
          WHERE d.state = 'pending' AND d.next_attempt_ms <= ?
          ORDER BY d.next_attempt_ms, d.id LIMIT ?`,
          [nowMs, limit],
        );
        for (const row of due) {
          await tx.run('UPDATE webhook_deliveries SET next_attempt_ms = ? WHERE id = ?', [nowMs + leaseMs, row.id]);
        }
        return due.map((row) => ({
          id: row.id,
          webhookId: row.webhook_id,
          url: row.url,
          secret: row.secret,
          kind: row.kind,
          body: row.body,
          attempts: row.attempts,
        }));
      });
    },
    async settle(id, outcome) {
      if (outcome.kind === 'delivered') {
        await db.run(
          `UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, last_status = ?,
            last_error = NULL, delivered_at = ? WHERE id = ?`,
          [outcome.status, outcome.at, id],
        );
        return;
      }
      await db.run(
        `UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, last_status = ?, last_error = ?,
          next_attempt_ms = ? WHERE id = ?`,
        [
          outcome.nextAttemptMs === null ? 'failed' : 'pending',
          outcome.status,
          outcome.error,
          outcome.nextAttemptMs ?? 0,
          id,
        ],
      );
    },
    async deliveries(webhookId, limit) {
      const rows = await db.all(
        DeliveryRow,
        `SELECT id, webhook_id, event_id, kind, body, state, attempts, next_attempt_ms, last_status, last_error,
          created_at, delivered_at
        FROM webhook_deliveries WHERE webhook_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
        [webhookId, limit],
      );
      return rows.map((row) => ({
        id: row.id,
        webhook: row.webhook_id,
        event: row.event_id,
        kind: row.kind,
        state: row.state,
        attempts: row.attempts,
        lastStatus: row.last_status,
        lastError: row.last_error,
        nextAttemptAt: row.state === 'pending' ? new Date(row.next_attempt_ms).toISOString() : null,
        createdAt: row.created_at,
        deliveredAt: row.delivered_at,
      }));
    },
  };
}

// Devices on SQLite: admission by signed auth request (rules in ../admission.ts), their tokens, the last state
// report, and what operators change (pre-authorize, accept, reject, revoke, pin, name, note, tags), each change
// audited in its own transaction.
import type BetterSqlite3 from 'better-sqlite3';
import type { DeviceAuthStatus } from '../../protocol/device-auth.js';
import type { StateReport } from '../../protocol/state-report.js';
import { decideAdmission } from '../admission.js';
import { normalizeShortId, shortIdOf } from '../short-id.js';
import {
  ConflictError,
  type AuthAttempt, type AuthOutcome, type DeviceChange, type DeviceQuery, type DeviceRecord, type DeviceStore,
  type DeviceView, type KeyRotation, type NewDeviceToken, type Preauthorization, type RotationOutcome, type Stamp,
} from './index.js';
import type { SqliteAudit } from './sqlite-audit.js';

interface DeviceRow {
  uuid: string;
  short_id: string | null;
  name: string;
  fleet: string;
  device_type: string;
  key_hash: string;
  public_key: string | null;
  auth_status: DeviceAuthStatus;
  auth_timestamp: string | null;
  pinned_release_id: string | null;
  created_at: string;
  last_seen: string | null;
  revoked_at: string | null;
  note: string | null;
  tags: string;
}

interface DeviceViewRow extends DeviceRow {
  report: string | null;
}

function deviceOf(row: DeviceRow): DeviceRecord {
  return {
    uuid: row.uuid,
    // Filled in for every row when the store opens; a null here would be a row written behind its back.
    shortId: row.short_id ?? shortIdOf(row.uuid),
    name: row.name,
    fleet: row.fleet,
    deviceType: row.device_type,
    publicKey: row.public_key,
    authStatus: row.auth_status,
    pinnedReleaseId: row.pinned_release_id,
    createdAt: row.created_at,
    lastSeen: row.last_seen,
    revokedAt: row.revoked_at,
    note: row.note,
    tags: JSON.parse(row.tags) as string[],
  };
}

function deviceViewOf(row: DeviceViewRow): DeviceView {
  return { ...deviceOf(row), lastReport: row.report === null ? null : (JSON.parse(row.report) as StateReport) };
}

/**
 * key_hash is NOT NULL UNIQUE from before device keys (a bearer key's sha256); devices admitted by key get this,
 * unique and no sha256 hex, so no bearer key can ever match it.
 */
function noLegacyKey(uuid: string): string {
  return `none:${uuid}`;
}

const DEVICE_VIEW = `SELECT d.*, s.report FROM devices d LEFT JOIN device_state s ON s.uuid = d.uuid`;
const deviceTarget = (uuid: string): string => `device:${uuid}`;

export function sqliteDevices(db: BetterSqlite3.Database, audit: SqliteAudit): DeviceStore {
  const q = {
    getRow: db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE uuid = ?'),
    byKey: db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE public_key = ?'),
    byShortId: db.prepare<[string], { uuid: string }>('SELECT uuid FROM devices WHERE short_id = ?'),
    withoutShortId: db.prepare<[], { uuid: string }>('SELECT uuid FROM devices WHERE short_id IS NULL'),
    setShortId: db.prepare('UPDATE devices SET short_id = ? WHERE uuid = ?'),
    insert: db.prepare(`INSERT INTO devices (uuid, short_id, name, fleet, device_type, key_hash, public_key, auth_status,
      auth_timestamp, pinned_release_id, created_at, last_seen) VALUES (@uuid, @shortId, @name, @fleet, @deviceType,
      @keyHash, @publicKey, @status, @timestamp, NULL, @at, @lastSeen)`),
    adopt: db.prepare(`UPDATE devices SET uuid = @uuid, short_id = @shortId, key_hash = @keyHash WHERE uuid = @old`),
    contact: db.prepare(`UPDATE devices SET auth_timestamp = @timestamp, last_seen = @at, device_type = @deviceType
      WHERE uuid = @uuid`),
    setStatus: db.prepare('UPDATE devices SET auth_status = ?, revoked_at = ? WHERE uuid = ?'),
    bindKey: db.prepare('UPDATE devices SET public_key = ?, key_hash = ? WHERE uuid = ?'),
    rotate: db.prepare('UPDATE devices SET public_key = ?, auth_timestamp = ?, last_seen = ? WHERE uuid = ?'),
    tokenInsert: db.prepare('INSERT INTO device_tokens (hash, uuid, created_at, expires_at) VALUES (?, ?, ?, ?)'),
    tokensExpired: db.prepare('DELETE FROM device_tokens WHERE uuid = ? AND expires_at <= ?'),
    tokensDrop: db.prepare('DELETE FROM device_tokens WHERE uuid = ?'),
    byToken: db.prepare<[string, string], DeviceRow>(`SELECT d.* FROM device_tokens t JOIN devices d ON d.uuid = t.uuid
      WHERE t.hash = ? AND t.expires_at > ?`),
    view: db.prepare<[string], DeviceViewRow>(`${DEVICE_VIEW} WHERE d.uuid = ?`),
    touch: db.prepare('UPDATE devices SET last_seen = ? WHERE uuid = ?'),
    stateUpsert: db.prepare(`INSERT INTO device_state (uuid, report, received_at) VALUES (?, ?, ?)
      ON CONFLICT (uuid) DO UPDATE SET report = excluded.report, received_at = excluded.received_at`),
    setPin: db.prepare('UPDATE devices SET pinned_release_id = ? WHERE uuid = ?'),
    releaseVersion: db.prepare<[string], { version: string }>('SELECT version FROM releases WHERE id = ?'),
    update: db.prepare('UPDATE devices SET name = @name, note = @note, tags = @tags WHERE uuid = @uuid'),
  };
  // One prepared list statement per filter combination, from fixed fragments.
  const lists = new Map<string, BetterSqlite3.Statement<Record<string, string>, DeviceViewRow>>();
  const listFor = (query: DeviceQuery): BetterSqlite3.Statement<Record<string, string>, DeviceViewRow> => {
    const conditions = [
      ...(query.fleet === undefined ? [] : ['d.fleet = @fleet']),
      ...(query.status === undefined ? [] : ['d.auth_status = @status']),
    ];
    const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
    let statement = lists.get(where);
    if (!statement) {
      statement = db.prepare<Record<string, string>, DeviceViewRow>(`${DEVICE_VIEW} ${where} ORDER BY d.fleet, d.name, d.uuid`);
      lists.set(where, statement);
    }
    return statement;
  };

  /** The first free short id for `uuid` (its own, unless another device has it already). */
  const freeShortId = (uuid: string): string => {
    for (let attempt = 0; ; attempt++) {
      const id = shortIdOf(uuid, attempt);
      const holder = q.byShortId.get(id);
      if (!holder || holder.uuid === uuid) return id;
    }
  };

  db.transaction(() => {
    for (const { uuid } of q.withoutShortId.all()) q.setShortId.run(freeShortId(uuid), uuid);
  }).immediate();

  const row = (uuid: string): DeviceRecord => {
    const found = q.getRow.get(uuid);
    if (!found) throw new Error(`device '${uuid}' vanished inside its own transaction`);
    return deviceOf(found);
  };

  const issueToken = (uuid: string, token: NewDeviceToken, at: string): void => {
    q.tokensExpired.run(uuid, at);
    q.tokenInsert.run(token.hash, uuid, at, token.expiresAt);
  };

  const authenticate = db.transaction((a: AuthAttempt): AuthOutcome => {
    const byUuidRow = q.getRow.get(a.uuid);
    const byKeyRow = q.byKey.get(a.publicKey);
    const byUuid = byUuidRow ? deviceOf(byUuidRow) : null;
    // The device this key already is: its last signed timestamp bounds what it may send next (no replay).
    const last = (byKeyRow ?? (byUuidRow?.public_key === a.publicKey ? byUuidRow : undefined))?.auth_timestamp ?? null;
    if (last !== null && Date.parse(a.timestamp) <= Date.parse(last)) return { kind: 'replayed', last };
    const decision = decideAdmission({
      attempt: a,
      byUuid,
      byKey: byKeyRow ? deviceOf(byKeyRow) : null,
      legacyKeyMatches: a.legacyKeyHash !== null && byUuidRow?.key_hash === a.legacyKeyHash,
    });
    const self = { actor: deviceTarget(a.uuid), at: a.at };
    const contact = (): void => {
      q.contact.run({ uuid: a.uuid, timestamp: a.timestamp, at: a.at, deviceType: a.deviceType });
    };
    const admitted = (uuid: string, how: 'known' | 'provisioning-key' | 'preauthorized' | 'legacy-key'): AuthOutcome => {
      issueToken(uuid, a.token, a.at);
      return { kind: 'accepted', device: row(uuid), how };
    };
    switch (decision.kind) {
      case 'conflict':
        return { kind: 'conflict', reason: decision.reason };
      case 'no-fleet':
        return { kind: 'no-fleet' };
      case 'rejected':
        contact();
        return { kind: 'rejected', device: row(a.uuid) };
      case 'still-pending':
        contact();
        return { kind: 'pending', device: row(a.uuid), created: false };
      case 'token':
        contact();
        return admitted(a.uuid, 'known');
      case 'create': {
        q.insert.run({
          uuid: a.uuid, shortId: freeShortId(a.uuid), name: a.name ?? a.uuid, fleet: decision.fleet, deviceType: a.deviceType,
          keyHash: noLegacyKey(a.uuid), publicKey: a.publicKey, status: decision.status, timestamp: a.timestamp, at: a.at, lastSeen: a.at,
        });
        audit.record(self, {
          action: decision.status === 'accepted' ? 'device.register' : 'device.request',
          target: deviceTarget(a.uuid),
          fleet: decision.fleet,
          detail: { deviceType: a.deviceType, publicKey: a.publicKey, ...(decision.status === 'accepted' ? { by: 'provisioning-key' } : {}) },
        });
        return decision.status === 'accepted' ? admitted(a.uuid, 'provisioning-key') : { kind: 'pending', device: row(a.uuid), created: true };
      }
      case 'adopt': {
        const old = decision.preauthorized.uuid;
        q.adopt.run({ uuid: a.uuid, old, shortId: freeShortId(a.uuid), keyHash: noLegacyKey(a.uuid) });
        q.setStatus.run('accepted', null, a.uuid);
        contact();
        audit.record(self, { action: 'device.register', target: deviceTarget(a.uuid), fleet: decision.preauthorized.fleet, detail: { by: 'preauthorized', preauthorizedAs: old } });
        return admitted(a.uuid, 'preauthorized');
      }
      case 'admit': {
        q.setStatus.run('accepted', null, a.uuid);
        contact();
        audit.record(self, { action: 'device.register', target: deviceTarget(a.uuid), fleet: decision.device.fleet, detail: { by: decision.how } });
        return admitted(a.uuid, decision.how);
      }
      case 'bind-legacy': {
        q.bindKey.run(a.publicKey, noLegacyKey(a.uuid), a.uuid);
        contact();
        audit.record(self, { action: 'device.bind-key', target: deviceTarget(a.uuid), fleet: decision.device.fleet, detail: { publicKey: a.publicKey } });
        return admitted(a.uuid, 'legacy-key');
      }
    }
  });

  const rotateKey = db.transaction((r: KeyRotation): RotationOutcome => {
    const before = q.getRow.get(r.uuid);
    if (!before) return { kind: 'refused', status: 404, reason: `device '${r.uuid}' is not known` };
    if (before.public_key !== r.oldPublicKey) return { kind: 'refused', status: 401, reason: `the old key is not the current key of device '${r.uuid}'` };
    if (before.auth_status !== 'accepted') return { kind: 'refused', status: 403, reason: `device '${r.uuid}' is ${before.auth_status}, not accepted` };
    if (before.auth_timestamp !== null && Date.parse(r.timestamp) <= Date.parse(before.auth_timestamp)) {
      return { kind: 'refused', status: 401, reason: `timestamp ${r.timestamp} is not later than the last one device '${r.uuid}' signed (${before.auth_timestamp})` };
    }
    const holder = q.byKey.get(r.newPublicKey);
    if (holder) return { kind: 'refused', status: 409, reason: `the new public key is already the key of device '${holder.uuid}'` };
    q.rotate.run(r.newPublicKey, r.timestamp, r.at, r.uuid);
    q.tokensDrop.run(r.uuid);
    issueToken(r.uuid, r.token, r.at);
    audit.record({ actor: deviceTarget(r.uuid), at: r.at }, {
      action: 'device.rotate-key', target: deviceTarget(r.uuid), fleet: before.fleet, detail: { from: r.oldPublicKey, to: r.newPublicKey },
    });
    return { kind: 'rotated', device: row(r.uuid) };
  });

  const preauthorize = db.transaction((p: Preauthorization, stamp: Stamp): DeviceRecord => {
    if (q.getRow.get(p.uuid)) throw new ConflictError(`device '${p.uuid}' exists already`);
    const holder = q.byKey.get(p.publicKey);
    if (holder) throw new ConflictError(`the public key is already the key of device '${holder.uuid}'`);
    q.insert.run({
      uuid: p.uuid, shortId: freeShortId(p.uuid), name: p.name ?? p.uuid, fleet: p.fleet, deviceType: p.deviceType,
      keyHash: noLegacyKey(p.uuid), publicKey: p.publicKey, status: 'preauthorized', timestamp: null, at: stamp.at, lastSeen: null,
    });
    audit.record(stamp, { action: 'device.preauthorize', target: deviceTarget(p.uuid), fleet: p.fleet, detail: { publicKey: p.publicKey } });
    return row(p.uuid);
  });

  const saveReport = db.transaction((uuid: string, report: StateReport, at: string) => {
    q.stateUpsert.run(uuid, JSON.stringify(report), at);
    q.touch.run(at, uuid);
  });

  const setPin = db.transaction((uuid: string, releaseId: string | null, stamp: Stamp): DeviceRecord | null => {
    const before = q.getRow.get(uuid);
    if (!before) return null;
    if (before.pinned_release_id === releaseId) return deviceOf(before);
    q.setPin.run(releaseId, uuid);
    const versionOf = (id: string | null): string | null => (id === null ? null : q.releaseVersion.get(id)?.version ?? null);
    audit.record(stamp, {
      action: releaseId === null ? 'device.track-fleet' : 'device.pin',
      target: deviceTarget(uuid),
      fleet: before.fleet,
      detail: {
        ...(releaseId === null ? {} : { releaseId, version: versionOf(releaseId) }),
        previous: before.pinned_release_id === null ? null : { releaseId: before.pinned_release_id, version: versionOf(before.pinned_release_id) },
      },
    });
    return row(uuid);
  });

  const revoke = db.transaction((uuid: string, stamp: Stamp): DeviceRecord | null => {
    const before = q.getRow.get(uuid);
    if (!before) return null;
    if (before.revoked_at === null) {
      q.setStatus.run('rejected', stamp.at, uuid);
      q.tokensDrop.run(uuid);
      audit.record(stamp, { action: 'device.revoke', target: deviceTarget(uuid), fleet: before.fleet, detail: { was: before.auth_status } });
    }
    return row(uuid);
  });

  const accept = db.transaction((uuid: string, stamp: Stamp): DeviceRecord | null => {
    const before = q.getRow.get(uuid);
    if (!before) return null;
    if (before.auth_status !== 'accepted') {
      q.setStatus.run('accepted', null, uuid);
      audit.record(stamp, {
        action: 'device.accept', target: deviceTarget(uuid), fleet: before.fleet,
        detail: { was: before.auth_status, ...(before.revoked_at === null ? {} : { revokedAt: before.revoked_at }) },
      });
    }
    return row(uuid);
  });

  const reject = db.transaction((uuid: string, stamp: Stamp): DeviceRecord | null => {
    const before = q.getRow.get(uuid);
    if (!before) return null;
    if (before.auth_status === 'accepted') throw new ConflictError(`device '${uuid}' is accepted: revoke it to shut it out`);
    if (before.auth_status !== 'rejected') {
      q.setStatus.run('rejected', null, uuid);
      q.tokensDrop.run(uuid);
      audit.record(stamp, { action: 'device.reject', target: deviceTarget(uuid), fleet: before.fleet, detail: { was: before.auth_status } });
    }
    return row(uuid);
  });

  const update = db.transaction((uuid: string, change: DeviceChange, stamp: Stamp): DeviceRecord | null => {
    const before = q.getRow.get(uuid);
    if (!before) return null;
    const old = deviceOf(before);
    const next = { name: change.name ?? old.name, note: change.note === undefined ? old.note : change.note, tags: change.tags ?? old.tags };
    const changed: Record<string, { from: unknown; to: unknown }> = {};
    for (const field of ['name', 'note', 'tags'] as const) {
      if (JSON.stringify(old[field]) !== JSON.stringify(next[field])) changed[field] = { from: old[field], to: next[field] };
    }
    if (Object.keys(changed).length > 0) {
      q.update.run({ uuid, name: next.name, note: next.note, tags: JSON.stringify(next.tags) });
      audit.record(stamp, { action: 'device.update', target: deviceTarget(uuid), fleet: before.fleet, detail: changed });
    }
    return row(uuid);
  });

  return {
    async authenticate(attempt) {
      return authenticate.immediate(attempt);
    },
    async rotateKey(rotation) {
      return rotateKey.immediate(rotation);
    },
    async preauthorize(preauthorization, stamp) {
      return preauthorize.immediate(preauthorization, stamp);
    },
    async byToken(tokenHash, at) {
      const found = q.byToken.get(tokenHash, at);
      return found ? deviceOf(found) : null;
    },
    async get(uuidOrShortId) {
      const direct = q.view.get(uuidOrShortId);
      if (direct) return deviceViewOf(direct);
      const shortId = normalizeShortId(uuidOrShortId);
      const uuid = shortId === null ? undefined : q.byShortId.get(shortId)?.uuid;
      const found = uuid === undefined ? undefined : q.view.get(uuid);
      return found ? deviceViewOf(found) : null;
    },
    async list(query = {}) {
      return listFor(query).all({ ...query }).map(deviceViewOf);
    },
    async touch(uuid, at) {
      q.touch.run(at, uuid);
    },
    async saveReport(uuid, report, at) {
      saveReport(uuid, report, at);
    },
    async setPin(uuid, releaseId, stamp) {
      return setPin.immediate(uuid, releaseId, stamp);
    },
    async revoke(uuid, stamp) {
      return revoke.immediate(uuid, stamp);
    },
    async accept(uuid, stamp) {
      return accept.immediate(uuid, stamp);
    },
    async reject(uuid, stamp) {
      return reject.immediate(uuid, stamp);
    },
    async update(uuid, change, stamp) {
      return update.immediate(uuid, change, stamp);
    },
  };
}

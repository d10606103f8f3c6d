// Devices on SQLite: registration, the last state report, and what operators change (pin, revoke, accept, name,
// note, tags), each change audited in its own transaction.
import { randomUUID } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import type { StateReport } from '../../protocol/state-report.js';
import {
  ConflictError,
  type DeviceChange, type DeviceRecord, type DeviceStore, type DeviceView, type Registration, type Stamp,
} from './index.js';
import type { SqliteAudit } from './sqlite-audit.js';

interface DeviceRow {
  uuid: string;
  name: string;
  fleet: string;
  device_type: string;
  key_hash: string;
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
    name: row.name,
    fleet: row.fleet,
    deviceType: row.device_type,
    keyHash: row.key_hash,
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

/** key_hash is NOT NULL UNIQUE; this value is unique and no sha256 hex, so no key can ever match it. */
function deadKeyHash(): string {
  return `dead:${randomUUID()}`;
}

const DEVICE_VIEW = `SELECT d.*, s.report FROM devices d LEFT JOIN device_state s ON s.uuid = d.uuid`;

export function sqliteDevices(db: BetterSqlite3.Database, audit: SqliteAudit): DeviceStore {
  const q = {
    getRow: db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE uuid = ?'),
    insert: db.prepare(`INSERT INTO devices (uuid, name, fleet, device_type, key_hash, pinned_release_id,
      created_at, last_seen) VALUES (@uuid, @name, @fleet, @deviceType, @keyHash, NULL, @at, NULL)`),
    rekey: db.prepare('UPDATE devices SET name = @name, device_type = @deviceType, key_hash = @keyHash WHERE uuid = @uuid'),
    byKey: db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE key_hash = ?'),
    view: db.prepare<[string], DeviceViewRow>(`${DEVICE_VIEW} WHERE d.uuid = ?`),
    viewAll: db.prepare<[], DeviceViewRow>(`${DEVICE_VIEW} ORDER BY d.fleet, d.name, d.uuid`),
    viewFleet: db.prepare<[string], DeviceViewRow>(`${DEVICE_VIEW} WHERE d.fleet = ? ORDER BY d.name, d.uuid`),
    touch: db.prepare('UPDATE devices SET last_seen = ? WHERE uuid = ?'),
    stateUpsert: db.prepare(`INSERT INTO device_state (uuid, report, received_at) VALUES (?, ?, ?)
      ON CONFLICT (uuid) DO UPDATE SET report = excluded.report, received_at = excluded.received_at`),
    setPin: db.prepare('UPDATE devices SET pinned_release_id = ? WHERE uuid = ?'),
    releaseVersion: db.prepare<[string], { version: string }>('SELECT version FROM releases WHERE id = ?'),
    revoke: db.prepare('UPDATE devices SET revoked_at = ? WHERE uuid = ?'),
    accept: db.prepare('UPDATE devices SET revoked_at = NULL, key_hash = ? WHERE uuid = ?'),
    update: db.prepare('UPDATE devices SET name = @name, note = @note, tags = @tags WHERE uuid = @uuid'),
  };

  const deviceTarget = (uuid: string): string => `device:${uuid}`;

  const register = db.transaction((r: Registration): { device: DeviceRecord; created: boolean } => {
    const existing = q.getRow.get(r.uuid);
    if (existing && existing.fleet !== r.fleet) {
      throw new ConflictError(`device '${r.uuid}' is registered in fleet '${existing.fleet}', not '${r.fleet}'`);
    }
    if (existing?.revoked_at) {
      throw new ConflictError(`device '${r.uuid}' was revoked at ${existing.revoked_at}: an operator must accept it before it can register again`);
    }
    if (existing) {
      q.rekey.run({ uuid: r.uuid, name: r.name ?? existing.name, deviceType: r.deviceType, keyHash: r.keyHash });
    } else {
      q.insert.run({ uuid: r.uuid, name: r.name ?? r.uuid, fleet: r.fleet, deviceType: r.deviceType, keyHash: r.keyHash, at: r.at });
    }
    // The device acts for itself here: the provisioning key is its credential, no person is involved.
    audit.record({ actor: deviceTarget(r.uuid), at: r.at }, {
      action: existing ? 'device.rekey' : 'device.register',
      target: deviceTarget(r.uuid),
      fleet: r.fleet,
      detail: { deviceType: r.deviceType },
    });
    return { device: deviceOf(q.getRow.get(r.uuid) as DeviceRow), created: !existing };
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
    return deviceOf(q.getRow.get(uuid) as DeviceRow);
  });

  const revoke = db.transaction((uuid: string, stamp: Stamp): DeviceRecord | null => {
    const before = q.getRow.get(uuid);
    if (!before) return null;
    if (before.revoked_at === null) {
      q.revoke.run(stamp.at, uuid);
      audit.record(stamp, { action: 'device.revoke', target: deviceTarget(uuid), fleet: before.fleet, detail: {} });
    }
    return deviceOf(q.getRow.get(uuid) as DeviceRow);
  });

  const accept = db.transaction((uuid: string, stamp: Stamp): DeviceRecord | null => {
    const before = q.getRow.get(uuid);
    if (!before) return null;
    if (before.revoked_at !== null) {
      // The key it had when revoked may be the reason it was revoked: it never works again.
      q.accept.run(deadKeyHash(), uuid);
      audit.record(stamp, { action: 'device.accept', target: deviceTarget(uuid), fleet: before.fleet, detail: { revokedAt: before.revoked_at } });
    }
    return deviceOf(q.getRow.get(uuid) as DeviceRow);
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
    return deviceOf(q.getRow.get(uuid) as DeviceRow);
  });

  return {
    async register(registration) {
      return register.immediate(registration);
    },
    async byKeyHash(keyHash) {
      const row = q.byKey.get(keyHash);
      return row ? deviceOf(row) : null;
    },
    async get(uuid) {
      const row = q.view.get(uuid);
      return row ? deviceViewOf(row) : null;
    },
    async list(fleet) {
      return (fleet === undefined ? q.viewAll.all() : q.viewFleet.all(fleet)).map(deviceViewOf);
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
    async update(uuid, change, stamp) {
      return update.immediate(uuid, change, stamp);
    },
  };
}

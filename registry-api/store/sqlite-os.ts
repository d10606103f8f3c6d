// Host OS releases and their pins on SQLite (migration 6). A device's host OS target is its own pin, else its
// fleet's, and only ever a release of the device's own type: a bundle for another board is never offered. Every
// change is audited in its own transaction; a device pin's entry carries the device's fleet.
import { randomUUID } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import {
  ConflictError,
  type NewOsRelease, type OsPinOutcome, type OsPinScope, type OsReleaseRecord, type OsReleaseStore, type Stamp,
} from './index.js';
import type { SqliteAudit } from './sqlite-audit.js';
import { isUniqueViolation } from './sqlite-errors.js';

interface OsReleaseRow {
  id: string;
  device_type: string;
  version: string;
  digest: string;
  size: number;
  compatible: string | null;
  file: string;
  created_at: string;
  uploaded_by: string;
}

function releaseOf(row: OsReleaseRow): OsReleaseRecord {
  return {
    id: row.id,
    deviceType: row.device_type,
    version: row.version,
    digest: row.digest,
    size: row.size,
    compatible: row.compatible,
    file: row.file,
    createdAt: row.created_at,
    uploadedBy: row.uploaded_by,
  };
}

export function sqliteOsReleases(db: BetterSqlite3.Database, audit: SqliteAudit): OsReleaseStore {
  const q = {
    insert: db.prepare(`INSERT INTO os_releases (id, device_type, version, digest, size, compatible, file, created_at,
      uploaded_by) VALUES (@id, @deviceType, @version, @digest, @size, @compatible, @file, @createdAt, @uploadedBy)`),
    get: db.prepare<[string], OsReleaseRow>('SELECT * FROM os_releases WHERE id = ?'),
    byId: db.prepare<[string, string], OsReleaseRow>('SELECT * FROM os_releases WHERE device_type = ? AND id = ?'),
    byVersion: db.prepare<[string, string], OsReleaseRow>('SELECT * FROM os_releases WHERE device_type = ? AND version = ?'),
    listAll: db.prepare<[], OsReleaseRow>('SELECT * FROM os_releases ORDER BY created_at DESC, rowid DESC'),
    listType: db.prepare<[string], OsReleaseRow>('SELECT * FROM os_releases WHERE device_type = ? ORDER BY created_at DESC, rowid DESC'),
    remove: db.prepare('DELETE FROM os_releases WHERE id = ?'),
    pinnedBy: db.prepare<[string, string], { what: string }>(`SELECT 'fleet ' || fleet AS what FROM fleet_os_pins WHERE os_release_id = ?
      UNION ALL SELECT 'device ' || uuid AS what FROM device_os_pins WHERE os_release_id = ?`),
    fleetType: db.prepare<[string], { device_type: string }>('SELECT device_type FROM fleets WHERE name = ?'),
    device: db.prepare<[string], { device_type: string; fleet: string }>('SELECT device_type, fleet FROM devices WHERE uuid = ?'),
    fleetPin: db.prepare<[string], OsReleaseRow>(`SELECT r.* FROM fleet_os_pins p JOIN os_releases r ON r.id = p.os_release_id
      WHERE p.fleet = ?`),
    devicePin: db.prepare<[string], OsReleaseRow>(`SELECT r.* FROM device_os_pins p JOIN os_releases r ON r.id = p.os_release_id
      WHERE p.uuid = ?`),
    fleetPinPut: db.prepare(`INSERT INTO fleet_os_pins (fleet, os_release_id, pinned_at) VALUES (?, ?, ?)
      ON CONFLICT (fleet) DO UPDATE SET os_release_id = excluded.os_release_id, pinned_at = excluded.pinned_at`),
    devicePinPut: db.prepare(`INSERT INTO device_os_pins (uuid, os_release_id, pinned_at) VALUES (?, ?, ?)
      ON CONFLICT (uuid) DO UPDATE SET os_release_id = excluded.os_release_id, pinned_at = excluded.pinned_at`),
    fleetPinDrop: db.prepare('DELETE FROM fleet_os_pins WHERE fleet = ?'),
    devicePinDrop: db.prepare('DELETE FROM device_os_pins WHERE uuid = ?'),
  };

  const pinOf = (scope: OsPinScope): OsReleaseRow | undefined =>
    'fleet' in scope ? q.fleetPin.get(scope.fleet) : q.devicePin.get(scope.device);

  const create = db.transaction((release: NewOsRelease, stamp: Stamp): OsReleaseRecord => {
    const id = randomUUID();
    try {
      q.insert.run({ ...release, id, uploadedBy: stamp.actor });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new ConflictError(`device type '${release.deviceType}' already has a host OS release with version '${release.version}'`);
      }
      throw err;
    }
    audit.record(stamp, {
      action: 'os-release.create',
      target: `os-release:${id}`,
      fleet: null,
      detail: { deviceType: release.deviceType, version: release.version, digest: release.digest, size: release.size },
    });
    return releaseOf(q.get.get(id) as OsReleaseRow);
  });

  const remove = db.transaction((id: string, stamp: Stamp): OsReleaseRecord | null => {
    const row = q.get.get(id);
    if (!row) return null;
    const pins = q.pinnedBy.all(id, id).map((p) => p.what);
    if (pins.length > 0) {
      throw new ConflictError(`host OS release ${row.version} (${row.device_type}) is pinned by ${pins.join(', ')}: unpin it first`);
    }
    q.remove.run(id);
    audit.record(stamp, {
      action: 'os-release.delete',
      target: `os-release:${id}`,
      fleet: null,
      detail: { deviceType: row.device_type, version: row.version, digest: row.digest },
    });
    return releaseOf(row);
  });

  const pin = db.transaction((scope: OsPinScope, releaseId: string | null, stamp: Stamp): OsPinOutcome => {
    const owner = 'fleet' in scope
      ? (() => { const f = q.fleetType.get(scope.fleet); return f ? { type: f.device_type, fleet: scope.fleet } : null; })()
      : (() => { const d = q.device.get(scope.device); return d ? { type: d.device_type, fleet: d.fleet } : null; })();
    if (owner === null) return { kind: 'no-scope' };
    const before = pinOf(scope) ?? null;
    const target = 'fleet' in scope ? `fleet:${scope.fleet}` : `device:${scope.device}`;
    const previous = before === null ? null : { id: before.id, version: before.version };
    if (releaseId === null) {
      if (before === null) return { kind: 'pinned', release: null };
      if ('fleet' in scope) q.fleetPinDrop.run(scope.fleet);
      else q.devicePinDrop.run(scope.device);
      audit.record(stamp, { action: 'os.unpin', target, fleet: owner.fleet, detail: { previous } });
      return { kind: 'pinned', release: null };
    }
    const release = q.get.get(releaseId);
    if (!release) return { kind: 'no-release' };
    if (release.device_type !== owner.type) return { kind: 'wrong-type', expected: owner.type, got: release.device_type };
    if (before?.id === release.id) return { kind: 'pinned', release: releaseOf(release) };
    if ('fleet' in scope) q.fleetPinPut.run(scope.fleet, release.id, stamp.at);
    else q.devicePinPut.run(scope.device, release.id, stamp.at);
    audit.record(stamp, {
      action: 'os.pin',
      target,
      fleet: owner.fleet,
      detail: { osReleaseId: release.id, version: release.version, digest: release.digest, previous },
    });
    return { kind: 'pinned', release: releaseOf(release) };
  });

  return {
    async create(release, stamp) {
      return create.immediate(release, stamp);
    },
    async get(id) {
      const row = q.get.get(id);
      return row ? releaseOf(row) : null;
    },
    async find(deviceType, idOrVersion) {
      const row = q.byId.get(deviceType, idOrVersion) ?? q.byVersion.get(deviceType, idOrVersion);
      return row ? releaseOf(row) : null;
    },
    async list(deviceType) {
      return (deviceType === undefined ? q.listAll.all() : q.listType.all(deviceType)).map(releaseOf);
    },
    async remove(id, stamp) {
      return remove.immediate(id, stamp);
    },
    async pin(scope, releaseId, stamp) {
      return pin.immediate(scope, releaseId, stamp);
    },
    async pinOf(scope) {
      const row = pinOf(scope);
      return row ? releaseOf(row) : null;
    },
    async targetFor(device) {
      // A pin of another type (the device moved to a fleet of another board) does not apply.
      const own = q.devicePin.get(device.uuid);
      if (own && own.device_type === device.deviceType) return releaseOf(own);
      const fleet = q.fleetPin.get(device.fleet);
      return fleet && fleet.device_type === device.deviceType ? releaseOf(fleet) : null;
    },
  };
}

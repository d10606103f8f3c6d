// Host OS releases and their pins (migration 6). A device's host OS target is its own pin, else its fleet's, and
// only ever a release of the device's own type: a bundle for another board is never offered. Every change is
// audited in its own transaction; a device pin's entry carries the device's fleet.
import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { Audit } from './audit.js';
import {
  ConflictError,
  type OsPinOutcome,
  type OsPinScope,
  type OsReleaseRecord,
  type OsReleaseStore,
} from './index.js';
import { Nullable, type Database, type Queryable } from './sql/database.js';
import { isUniqueViolation } from './sql/errors.js';

const OsReleaseRow = Type.Object({
  id: Type.String(),
  device_type: Type.String(),
  version: Type.String(),
  digest: Type.String(),
  size: Type.Integer(),
  compatible: Nullable(Type.String()),
  file: Type.String(),
  created_at: Type.String(),
  uploaded_by: Type.String(),
});
type OsReleaseRow = typeof OsReleaseRow.static;

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

const rowOf = (q: Queryable, id: string) => q.get(OsReleaseRow, 'SELECT * FROM os_releases WHERE id = ?', [id]);
const fleetPin = (q: Queryable, fleet: string) =>
  q.get(
    OsReleaseRow,
    'SELECT r.* FROM fleet_os_pins p JOIN os_releases r ON r.id = p.os_release_id WHERE p.fleet = ?',
    [fleet],
  );
const devicePin = (q: Queryable, uuid: string) =>
  q.get(
    OsReleaseRow,
    'SELECT r.* FROM device_os_pins p JOIN os_releases r ON r.id = p.os_release_id WHERE p.uuid = ?',
    [uuid],
  );
const pinOf = (q: Queryable, scope: OsPinScope) =>
  'fleet' in scope ? fleetPin(q, scope.fleet) : devicePin(q, scope.device);

/** The pin's owner: its device type, and the fleet its audit entries belong to; null if there is none. */
async function ownerOf(q: Queryable, scope: OsPinScope): Promise<{ type: string; fleet: string } | null> {
  if ('fleet' in scope) {
    const fleet = await q.get(
      Type.Object({ device_type: Type.String() }),
      'SELECT device_type FROM fleets WHERE name = ?',
      [scope.fleet],
    );
    return fleet ? { type: fleet.device_type, fleet: scope.fleet } : null;
  }
  const device = await q.get(
    Type.Object({ device_type: Type.String(), fleet: Type.String() }),
    'SELECT device_type, fleet FROM devices WHERE uuid = ?',
    [scope.device],
  );
  return device ? { type: device.device_type, fleet: device.fleet } : null;
}

export function osReleasesOn(db: Database, audit: Audit): OsReleaseStore {
  return {
    async create(release, stamp) {
      return db.transaction(async (tx) => {
        const id = randomUUID();
        try {
          await tx.run(
            `INSERT INTO os_releases (id, device_type, version, digest, size, compatible, file, created_at,
            uploaded_by) VALUES (@id, @deviceType, @version, @digest, @size, @compatible, @file, @createdAt, @uploadedBy)`,
            { ...release, id, uploadedBy: stamp.actor },
          );
        } catch (err) {
          if (isUniqueViolation(err)) {
            throw new ConflictError(
              `device type '${release.deviceType}' already has a host OS release with version '${release.version}'`,
            );
          }
          throw err;
        }
        await audit.record(tx, stamp, {
          action: 'os-release.create',
          target: `os-release:${id}`,
          fleet: null,
          detail: {
            deviceType: release.deviceType,
            version: release.version,
            digest: release.digest,
            size: release.size,
          },
        });
        const created = await rowOf(tx, id);
        if (!created) throw new Error(`host OS release ${id} vanished inside its own transaction`);
        return releaseOf(created);
      });
    },
    async get(id) {
      const row = await rowOf(db, id);
      return row ? releaseOf(row) : null;
    },
    async find(deviceType, idOrVersion) {
      const row =
        (await db.get(OsReleaseRow, 'SELECT * FROM os_releases WHERE device_type = ? AND id = ?', [
          deviceType,
          idOrVersion,
        ])) ??
        (await db.get(OsReleaseRow, 'SELECT * FROM os_releases WHERE device_type = ? AND version = ?', [
          deviceType,
          idOrVersion,
        ]));
      return row ? releaseOf(row) : null;
    },
    async list(deviceType) {
      // Newest first; the id only breaks ties between uploads within the same millisecond.
      const rows =
        deviceType === undefined
          ? await db.all(OsReleaseRow, 'SELECT * FROM os_releases ORDER BY created_at DESC, id DESC')
          : await db.all(
              OsReleaseRow,
              'SELECT * FROM os_releases WHERE device_type = ? ORDER BY created_at DESC, id DESC',
              [deviceType],
            );
      return rows.map(releaseOf);
    },
    async remove(id, stamp) {
      return db.transaction(async (tx) => {
        const row = await rowOf(tx, id);
        if (!row) return null;
        const pins = (
          await tx.all(
            Type.Object({ what: Type.String() }),
            `SELECT 'fleet ' || fleet AS what FROM fleet_os_pins WHERE os_release_id = ?
           UNION ALL SELECT 'device ' || uuid AS what FROM device_os_pins WHERE os_release_id = ?`,
            [id, id],
          )
        ).map((p) => p.what);
        if (pins.length > 0) {
          throw new ConflictError(
            `host OS release ${row.version} (${row.device_type}) is pinned by ${pins.join(', ')}: unpin it first`,
          );
        }
        await tx.run('DELETE FROM os_releases WHERE id = ?', [id]);
        await audit.record(tx, stamp, {
          action: 'os-release.delete',
          target: `os-release:${id}`,
          fleet: null,
          detail: { deviceType: row.device_type, version: row.version, digest: row.digest },
        });
        return releaseOf(row);
      });
    },
    async pin(scope, releaseId, stamp) {
      return db.transaction(async (tx): Promise<OsPinOutcome> => {
        const owner = await ownerOf(tx, scope);
        if (owner === null) return { kind: 'no-scope' };
        const before = await pinOf(tx, scope);
        const target = 'fleet' in scope ? `fleet:${scope.fleet}` : `device:${scope.device}`;
        const previous = before === null ? null : { id: before.id, version: before.version };
        if (releaseId === null) {
          if (before === null) return { kind: 'pinned', release: null };
          if ('fleet' in scope) await tx.run('DELETE FROM fleet_os_pins WHERE fleet = ?', [scope.fleet]);
          else await tx.run('DELETE FROM device_os_pins WHERE uuid = ?', [scope.device]);
          await audit.record(tx, stamp, { action: 'os.unpin', target, fleet: owner.fleet, detail: { previous } });
          return { kind: 'pinned', release: null };
        }
        const release = await rowOf(tx, releaseId);
        if (!release) return { kind: 'no-release' };
        if (release.device_type !== owner.type)
          return { kind: 'wrong-type', expected: owner.type, got: release.device_type };
        if (before?.id === release.id) return { kind: 'pinned', release: releaseOf(release) };
        if ('fleet' in scope) {
          await tx.run(
            `INSERT INTO fleet_os_pins (fleet, os_release_id, pinned_at) VALUES (?, ?, ?)
            ON CONFLICT (fleet) DO UPDATE SET os_release_id = excluded.os_release_id, pinned_at = excluded.pinned_at`,
            [scope.fleet, release.id, stamp.at],
          );
        } else {
          await tx.run(
            `INSERT INTO device_os_pins (uuid, os_release_id, pinned_at) VALUES (?, ?, ?)
            ON CONFLICT (uuid) DO UPDATE SET os_release_id = excluded.os_release_id, pinned_at = excluded.pinned_at`,
            [scope.device, release.id, stamp.at],
          );
        }
        await audit.record(tx, stamp, {
          action: 'os.pin',
          target,
          fleet: owner.fleet,
          detail: { osReleaseId: release.id, version: release.version, digest: release.digest, previous },
        });
        return { kind: 'pinned', release: releaseOf(release) };
      });
    },
    async pinOf(scope) {
      const row = await pinOf(db, scope);
      return row ? releaseOf(row) : null;
    },
    async targetFor(device) {
      // A pin of another type (the device moved to a fleet of another board) does not apply.
      const own = await devicePin(db, device.uuid);
      if (own && own.device_type === device.deviceType) return releaseOf(own);
      const fleet = await fleetPin(db, device.fleet);
      return fleet && fleet.device_type === device.deviceType ? releaseOf(fleet) : null;
    },
  };
}

// The ends of things, each in one transaction with its audit entry (the audit log itself keeps everything: it
// names fleets, devices and users by text, not by reference, so their entries outlive them):
// - a fleet is archived (no new devices or releases, its devices keep running) or deleted once it has no devices,
//   with what only it used (releases, groups, provisioning and release keys, vars, roles, its host OS pin);
// - a release is deleted only while no device runs it, reports it as its target, or is pinned to it, and the fleet
//   is not pinned to it (what the fleet's latest release is, the caller checks: that is the target's logic);
// - a user is deleted with their API tokens and fleet roles, never the last admin;
// - a device is decommissioned: its row goes, and with it its key, tokens, settings, vars and reports (those
//   reference it ON DELETE CASCADE), and its short id is free for another device.
import { Type } from '@sinclair/typebox';
import type { StateReport } from '../../protocol/state-report.js';
import type { Audit } from './audit.js';
import type { Stamp } from './index.js';
import { Nullable, type Database } from './sql/database.js';
import { SqlError } from './sql/errors.js';

export type DeleteFleetOutcome =
  | { kind: 'deleted'; releases: number }
  | { kind: 'has-devices'; devices: number }
  /** Another table still references it (a kind of record this code does not know to delete): named. */
  | { kind: 'referenced'; detail: string }
  | { kind: 'no-fleet' };

export type DeleteReleaseOutcome =
  | { kind: 'deleted' }
  /** Who still runs, targets or pins it, for the refusal; at most a few devices are named. */
  | { kind: 'in-use'; reasons: string[] }
  | { kind: 'no-release' };

export type DeleteUserOutcome = { kind: 'deleted' } | { kind: 'last-admin' } | { kind: 'no-user' };

export interface DecommissionedDevice {
  uuid: string;
  shortId: string;
  name: string;
  fleet: string;
}

export interface LifecycleStore {
  /** Sets or clears the fleet's archived mark; null if there is no such fleet. True when it changed. */
  setArchived(fleet: string, archived: boolean, stamp: Stamp): Promise<boolean | null>;
  deleteFleet(fleet: string, stamp: Stamp): Promise<DeleteFleetOutcome>;
  deleteRelease(releaseId: string, stamp: Stamp): Promise<DeleteReleaseOutcome>;
  deleteUser(name: string, stamp: Stamp): Promise<DeleteUserOutcome>;
  /** Null if there is no such device. */
  decommission(uuid: string, stamp: Stamp): Promise<DecommissionedDevice | null>;
}

const Count = Type.Object({ n: Type.Integer() });
const FleetBits = Type.Object({ name: Type.String(), archived_at: Nullable(Type.String()) });
const ReleaseBits = Type.Object({ id: Type.String(), fleet: Type.String(), version: Type.String() });
const UserBits = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  role: Type.String(),
  fleets_only: Type.Integer(),
});
const DeviceBits = Type.Object({
  uuid: Type.String(),
  short_id: Nullable(Type.String()),
  name: Type.String(),
  fleet: Type.String(),
  auth_status: Type.String(),
  public_key: Nullable(Type.String()),
});
const Uuid = Type.Object({ uuid: Type.String() });
const Report = Type.Object({ uuid: Type.String(), report: Type.String() });

/** Devices named in a refusal at most; the count says how many more. */
const NAMED = 5;

function named(uuids: readonly string[]): string {
  const shown = uuids.slice(0, NAMED).join(', ');
  return uuids.length > NAMED ? `${shown} and ${uuids.length - NAMED} more` : shown;
}

/** What only a fleet uses, deleted with it, children first. */
const FLEET_TABLES = [
  'device_groups',
  'provisioning_keys',
  'fleet_config_vars',
  'fleet_service_config_vars',
  'release_files',
  'fleet_release_keys',
  'fleet_roles',
  'fleet_os_pins',
] as const;

export function lifecycleOn(db: Database, audit: Audit): LifecycleStore {
  return {
    async setArchived(fleet, archived, stamp) {
      return db.transaction(async (tx) => {
        const row = await tx.get(FleetBits, 'SELECT name, archived_at FROM fleets WHERE name = ?', [fleet]);
        if (!row) return null;
        if ((row.archived_at !== null) === archived) return false;
        await tx.run('UPDATE fleets SET archived_at = ? WHERE name = ?', [archived ? stamp.at : null, fleet]);
        await audit.record(tx, stamp, {
          action: archived ? 'fleet.archive' : 'fleet.unarchive',
          target: `fleet:${fleet}`,
          fleet,
          detail: archived ? {} : { archivedAt: row.archived_at },
        });
        return true;
      });
    },

    async deleteFleet(fleet, stamp) {
      try {
        return await db.transaction(async (tx): Promise<DeleteFleetOutcome> => {
          const row = await tx.get(FleetBits, 'SELECT name, archived_at FROM fleets WHERE name = ?', [fleet]);
          if (!row) return { kind: 'no-fleet' };
          const devices = (await tx.get(Count, 'SELECT COUNT(*) AS n FROM devices WHERE fleet = ?', [fleet]))?.n ?? 0;
          if (devices > 0) return { kind: 'has-devices', devices };
          for (const table of FLEET_TABLES) await tx.run(`DELETE FROM ${table} WHERE fleet = ?`, [fleet]);
          await tx.run("UPDATE fleets SET policy_mode = 'latest', pinned_release_id = NULL WHERE name = ?", [fleet]);
          const releases = (await tx.run('DELETE FROM releases WHERE fleet = ?', [fleet])).changes;
          await tx.run('DELETE FROM fleets WHERE name = ?', [fleet]);
          await audit.record(tx, stamp, {
            action: 'fleet.delete',
            target: `fleet:${fleet}`,
            fleet,
            detail: { releases, archivedAt: row.archived_at },
          });
          return { kind: 'deleted', releases };
        });
      } catch (err) {
        if (err instanceof SqlError && err.kind === 'foreign-key')
          return { kind: 'referenced', detail: err.message.split(' (in `')[0] ?? err.message };
        throw err;
      }
    },

    async deleteRelease(releaseId, stamp) {
      return db.transaction(async (tx): Promise<DeleteReleaseOutcome> => {
        const release = await tx.get(ReleaseBits, 'SELECT id, fleet, version FROM releases WHERE id = ?', [releaseId]);
        if (!release) return { kind: 'no-release' };
        const reasons: string[] = [];
        const fleetPin = await tx.get(Count, 'SELECT COUNT(*) AS n FROM fleets WHERE pinned_release_id = ?', [
          releaseId,
        ]);
        if ((fleetPin?.n ?? 0) > 0) reasons.push(`fleet '${release.fleet}' is pinned to it`);
        const pinned = await tx.all(Uuid, 'SELECT uuid FROM devices WHERE pinned_release_id = ? ORDER BY uuid', [
          releaseId,
        ]);
        if (pinned.length > 0) reasons.push(`devices are pinned to it: ${named(pinned.map((d) => d.uuid))}`);
        // Reports are JSON text: the LIKE narrows them to those mentioning the id, the parse decides.
        const reports = await tx.all(
          Report,
          `SELECT s.uuid, s.report FROM device_state s JOIN devices d ON d.uuid = s.uuid
           WHERE d.fleet = ? AND s.report LIKE ? ORDER BY s.uuid`,
          [release.fleet, `%${releaseId}%`],
        );
        const running: string[] = [];
        const targeting: string[] = [];
        for (const { uuid, report } of reports) {
          const parsed = JSON.parse(report) as Pick<StateReport, 'releaseId' | 'targetReleaseId' | 'services'>;
          if (parsed.releaseId === releaseId || parsed.services.some((s) => s.releaseId === releaseId))
            running.push(uuid);
          else if (parsed.targetReleaseId === releaseId) targeting.push(uuid);
        }
        if (running.length > 0) reasons.push(`devices run it: ${named(running)}`);
        if (targeting.length > 0) reasons.push(`devices are updating to it: ${named(targeting)}`);
        if (reasons.length > 0) return { kind: 'in-use', reasons };
        await tx.run('DELETE FROM releases WHERE id = ?', [releaseId]);
        await audit.record(tx, stamp, {
          action: 'release.delete',
          target: `release:${releaseId}`,
          fleet: release.fleet,
          detail: { version: release.version },
        });
        return { kind: 'deleted' };
      });
    },

    async deleteUser(name, stamp) {
      return db.transaction(async (tx): Promise<DeleteUserOutcome> => {
        const user = await tx.get(UserBits, 'SELECT id, name, role, fleets_only FROM users WHERE name = ?', [name]);
        if (!user) return { kind: 'no-user' };
        const isAdmin = user.role === 'admin' && user.fleets_only === 0;
        if (isAdmin) {
          const others = await tx.get(
            Count,
            "SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND fleets_only = 0 AND name <> ?",
            [name],
          );
          if ((others?.n ?? 0) === 0) return { kind: 'last-admin' };
        }
        const tokens = (await tx.run('DELETE FROM api_tokens WHERE user_id = ?', [user.id])).changes;
        const roles = (await tx.run('DELETE FROM fleet_roles WHERE user_name = ?', [name])).changes;
        await tx.run('DELETE FROM users WHERE id = ?', [user.id]);
        await audit.record(tx, stamp, {
          action: 'user.delete',
          target: `user:${name}`,
          fleet: null,
          detail: { role: user.fleets_only === 1 ? null : user.role, tokens, fleetRoles: roles },
        });
        return { kind: 'deleted' };
      });
    },

    async decommission(uuid, stamp) {
      return db.transaction(async (tx) => {
        const device = await tx.get(
          DeviceBits,
          'SELECT uuid, short_id, name, fleet, auth_status, public_key FROM devices WHERE uuid = ?',
          [uuid],
        );
        if (!device) return null;
        await tx.run('DELETE FROM devices WHERE uuid = ?', [uuid]);
        // The entry is about the device: its generation bump finds no row, and the change is announced, so
        // sessions and push channels the API holds for it end.
        await audit.record(tx, stamp, {
          action: 'device.decommission',
          target: `device:${uuid}`,
          fleet: device.fleet,
          detail: {
            name: device.name,
            shortId: device.short_id,
            was: device.auth_status,
            publicKey: device.public_key,
          },
        });
        return { uuid, shortId: device.short_id ?? '', name: device.name, fleet: device.fleet };
      });
    },
  };
}

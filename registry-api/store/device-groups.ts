// A fleet's saved device groups: a name for a selector's text (protocol/device-selector.ts), parsed again each time
// it is used, so a group is who matches now, not who matched when it was saved. Creating and deleting one is audited.
import { Type } from '@sinclair/typebox';
import type { Audit } from './audit.js';
import { ConflictError, type Stamp } from './index.js';
import type { Database, Queryable } from './sql/database.js';
import { isUniqueViolation } from './sql/errors.js';

export interface DeviceGroupRecord {
  fleet: string;
  name: string;
  selector: string;
  createdBy: string;
  createdAt: string;
}

export interface DeviceGroupStore {
  /** Throws ConflictError if the fleet has a group of that name. The caller has parsed the selector. */
  create(group: { fleet: string; name: string; selector: string }, stamp: Stamp): Promise<DeviceGroupRecord>;
  get(fleet: string, name: string): Promise<DeviceGroupRecord | null>;
  /** By name. */
  list(fleet: string): Promise<DeviceGroupRecord[]>;
  /** Null if the fleet has no such group. */
  remove(fleet: string, name: string, stamp: Stamp): Promise<DeviceGroupRecord | null>;
}

const GroupRow = Type.Object({
  fleet: Type.String(),
  name: Type.String(),
  selector: Type.String(),
  created_by: Type.String(),
  created_at: Type.String(),
});
type GroupRow = typeof GroupRow.static;

const groupOf = (row: GroupRow): DeviceGroupRecord => ({
  fleet: row.fleet,
  name: row.name,
  selector: row.selector,
  createdBy: row.created_by,
  createdAt: row.created_at,
});

const rowOf = (q: Queryable, fleet: string, name: string) =>
  q.get(GroupRow, 'SELECT * FROM device_groups WHERE fleet = ? AND name = ?', [fleet, name]);

export function deviceGroupsOn(db: Database, audit: Audit): DeviceGroupStore {
  return {
    async create(group, stamp) {
      return db.transaction(async (tx) => {
        try {
          await tx.run(
            'INSERT INTO device_groups (fleet, name, selector, created_by, created_at) VALUES (?, ?, ?, ?, ?)',
            [group.fleet, group.name, group.selector, stamp.actor, stamp.at],
          );
        } catch (err) {
          if (isUniqueViolation(err))
            throw new ConflictError(`fleet '${group.fleet}' has a group '${group.name}' already`);
          throw err;
        }
        // Filed under its fleet so the fleet's audit shows it; that costs the fleet's devices one recomputation of
        // their targets (store/target-generation.ts), and groups change rarely.
        await audit.record(tx, stamp, {
          action: 'group.create',
          target: `group:${group.fleet}/${group.name}`,
          fleet: group.fleet,
          detail: { name: group.name, selector: group.selector },
        });
        const row = await rowOf(tx, group.fleet, group.name);
        if (!row) throw new Error(`group '${group.name}' of fleet '${group.fleet}' vanished inside its transaction`);
        return groupOf(row);
      });
    },
    async get(fleet, name) {
      const row = await rowOf(db, fleet, name);
      return row ? groupOf(row) : null;
    },
    async list(fleet) {
      return (await db.all(GroupRow, 'SELECT * FROM device_groups WHERE fleet = ? ORDER BY name', [fleet])).map(
        groupOf,
      );
    },
    async remove(fleet, name, stamp) {
      return db.transaction(async (tx) => {
        const row = await rowOf(tx, fleet, name);
        if (!row) return null;
        await tx.run('DELETE FROM device_groups WHERE fleet = ? AND name = ?', [fleet, name]);
        await audit.record(tx, stamp, {
          action: 'group.delete',
          target: `group:${fleet}/${name}`,
          fleet,
          detail: { name, selector: row.selector },
        });
        return groupOf(row);
      });
    },
  };
}

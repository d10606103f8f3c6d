// Config vars (per fleet, per device) and a device's own settings. Each change is audited in its own transaction;
// the audit entry carries the device's fleet, so a fleet's history shows its devices' changes too.
import { Type } from '@sinclair/typebox';
import type { ConfigVars, Settings } from '../../protocol/fleet-config.js';
import type { Audit } from './audit.js';
import type { ConfigScope, ConfigStore } from './index.js';
import type { Database, Queryable } from './sql/database.js';

const VarRow = Type.Object({ name: Type.String(), value: Type.String() });
const FleetName = Type.Object({ fleet: Type.String() });
const SettingsRow = Type.Object({ settings: Type.String() });

/** Table, key column and audit target of one scope: fixed strings, never input. */
function placeOf(scope: ConfigScope): { table: string; key: string; id: string; target: string } {
  return 'fleet' in scope
    ? { table: 'fleet_config_vars', key: 'fleet', id: scope.fleet, target: `fleet:${scope.fleet}` }
    : { table: 'device_config_vars', key: 'uuid', id: scope.device, target: `device:${scope.device}` };
}

async function fleetOf(q: Queryable, scope: ConfigScope): Promise<string | null> {
  return 'fleet' in scope
    ? scope.fleet
    : ((await q.get(FleetName, 'SELECT fleet FROM devices WHERE uuid = ?', [scope.device]))?.fleet ?? null);
}

async function settingsOf(q: Queryable, uuid: string): Promise<Settings> {
  const row = await q.get(SettingsRow, 'SELECT settings FROM device_settings WHERE uuid = ?', [uuid]);
  return row ? (JSON.parse(row.settings) as Settings) : {};
}

export function configOn(db: Database, audit: Audit): ConfigStore {
  return {
    async vars(scope) {
      const { table, key, id } = placeOf(scope);
      const vars: ConfigVars = {};
      for (const row of await db.all(VarRow, `SELECT name, value FROM ${table} WHERE ${key} = ? ORDER BY name`, [id]))
        vars[row.name] = row.value;
      return vars;
    },
    async setVar(scope, name, value, stamp) {
      const { table, key, id, target } = placeOf(scope);
      await db.transaction(async (tx) => {
        const before = await tx.get(VarRow, `SELECT name, value FROM ${table} WHERE ${key} = ? AND name = ?`, [
          id,
          name,
        ]);
        if (before?.value === value) return;
        await tx.run(
          `INSERT INTO ${table} (${key}, name, value, updated_at) VALUES (?, ?, ?, ?)
          ON CONFLICT (${key}, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
          [id, name, value, stamp.at],
        );
        // Values can be secrets (API keys of a meter vendor): the log keeps that it changed, not what to.
        await audit.record(tx, stamp, {
          action: 'config.set',
          target,
          fleet: await fleetOf(tx, scope),
          detail: { name, created: !before },
        });
      });
    },
    async unsetVar(scope, name, stamp) {
      const { table, key, id, target } = placeOf(scope);
      return db.transaction(async (tx) => {
        if ((await tx.run(`DELETE FROM ${table} WHERE ${key} = ? AND name = ?`, [id, name])).changes === 0)
          return false;
        await audit.record(tx, stamp, {
          action: 'config.unset',
          target,
          fleet: await fleetOf(tx, scope),
          detail: { name },
        });
        return true;
      });
    },
    async deviceSettings(uuid) {
      return settingsOf(db, uuid);
    },
    async updateDeviceSettings(uuid, change, stamp) {
      return db.transaction(async (tx) => {
        const { inherit = [], ...set } = change;
        const next: Settings = { ...(await settingsOf(tx, uuid)), ...set };
        for (const name of inherit) delete next[name];
        await tx.run(
          `INSERT INTO device_settings (uuid, settings, updated_at) VALUES (?, ?, ?)
          ON CONFLICT (uuid) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`,
          [uuid, JSON.stringify(next), stamp.at],
        );
        await audit.record(tx, stamp, {
          action: 'device.settings',
          target: `device:${uuid}`,
          fleet: await fleetOf(tx, { device: uuid }),
          detail: { change },
        });
        return next;
      });
    },
  };
}

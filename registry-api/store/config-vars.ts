// Config vars (per fleet, per device) and a device's own settings. Each change is audited in its own transaction;
// the audit entry carries the device's fleet, so a fleet's history shows its devices' changes too.
import { Type } from '@sinclair/typebox';
import type { ConfigVars, ServiceVars, Settings } from '../../protocol/fleet-config.js';
import type { Audit } from './audit.js';
import type { ConfigScope, ConfigStore } from './index.js';
import type { Database, Queryable } from './sql/database.js';

const VarRow = Type.Object({ name: Type.String(), value: Type.String() });
const FleetName = Type.Object({ fleet: Type.String() });
const SettingsRow = Type.Object({ settings: Type.String() });

interface Place {
  table: string;
  /** The key columns and their values: the fleet or device, and the service for scoped vars. */
  where: string;
  keys: string[];
  columns: string;
  target: string;
}

/** Table, key columns and audit target of one scope: table and column names are fixed strings, never input. */
function placeOf(scope: ConfigScope): Place {
  const [owner, key, id] = 'fleet' in scope ? ['fleet', 'fleet', scope.fleet] : ['device', 'uuid', scope.device];
  const target = `${owner}:${id}`;
  if (scope.service === undefined) {
    return { table: `${owner}_config_vars`, where: `${key} = ?`, keys: [id], columns: key, target };
  }
  return {
    table: `${owner}_service_config_vars`,
    where: `${key} = ? AND service = ?`,
    keys: [id, scope.service],
    columns: `${key}, service`,
    // The target stays `fleet:`/`device:` alone: the target generation it bumps is read off it.
    target,
  };
}

const ServiceVarRow = Type.Object({ service: Type.String(), name: Type.String(), value: Type.String() });

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
      const { table, where, keys } = placeOf(scope);
      const vars: ConfigVars = {};
      for (const row of await db.all(VarRow, `SELECT name, value FROM ${table} WHERE ${where} ORDER BY name`, keys))
        vars[row.name] = row.value;
      return vars;
    },
    async serviceVars(scope) {
      const [table, key, id] =
        'fleet' in scope
          ? ['fleet_service_config_vars', 'fleet', scope.fleet]
          : ['device_service_config_vars', 'uuid', scope.device];
      const vars: ServiceVars = {};
      const rows = await db.all(
        ServiceVarRow,
        `SELECT service, name, value FROM ${table} WHERE ${key} = ? ORDER BY service, name`,
        [id],
      );
      for (const row of rows) (vars[row.service] ??= {})[row.name] = row.value;
      return vars;
    },
    async setVar(scope, name, value, stamp) {
      const { table, where, keys, columns, target } = placeOf(scope);
      await db.transaction(async (tx) => {
        const before = await tx.get(VarRow, `SELECT name, value FROM ${table} WHERE ${where} AND name = ?`, [
          ...keys,
          name,
        ]);
        if (before?.value === value) return;
        await tx.run(
          `INSERT INTO ${table} (${columns}, name, value, updated_at) VALUES (${keys.map(() => '?').join(', ')}, ?, ?, ?)
          ON CONFLICT (${columns}, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
          [...keys, name, value, stamp.at],
        );
        // Values can be secrets (API keys of a meter vendor): the log keeps that it changed, not what to.
        await audit.record(tx, stamp, {
          action: 'config.set',
          target,
          fleet: await fleetOf(tx, scope),
          detail: { name, created: !before, ...(scope.service === undefined ? {} : { service: scope.service }) },
        });
      });
    },
    async unsetVar(scope, name, stamp) {
      const { table, where, keys, target } = placeOf(scope);
      return db.transaction(async (tx) => {
        if ((await tx.run(`DELETE FROM ${table} WHERE ${where} AND name = ?`, [...keys, name])).changes === 0)
          return false;
        await audit.record(tx, stamp, {
          action: 'config.unset',
          target,
          fleet: await fleetOf(tx, scope),
          detail: { name, ...(scope.service === undefined ? {} : { service: scope.service }) },
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

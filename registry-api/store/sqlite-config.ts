// Config vars (per fleet, per device) and a device's own settings on SQLite. Each change is audited in its own
// transaction; the audit entry carries the device's fleet, so a fleet's history shows its devices' changes too.
import type BetterSqlite3 from 'better-sqlite3';
import type { ConfigVars, Settings } from '../../protocol/fleet-config.js';
import type { ConfigScope, ConfigStore, Stamp } from './index.js';
import type { SqliteAudit } from './sqlite-audit.js';

interface VarRow {
  name: string;
  value: string;
}

/** Table, key column and audit target of one scope: fixed strings, never input. */
function placeOf(scope: ConfigScope): { table: string; key: string; id: string; target: string } {
  return 'fleet' in scope
    ? { table: 'fleet_config_vars', key: 'fleet', id: scope.fleet, target: `fleet:${scope.fleet}` }
    : { table: 'device_config_vars', key: 'uuid', id: scope.device, target: `device:${scope.device}` };
}

export function sqliteConfig(db: BetterSqlite3.Database, audit: SqliteAudit): ConfigStore {
  const statements = (table: string, key: string) => ({
    list: db.prepare<[string], VarRow>(`SELECT name, value FROM ${table} WHERE ${key} = ? ORDER BY name`),
    get: db.prepare<[string, string], VarRow>(`SELECT name, value FROM ${table} WHERE ${key} = ? AND name = ?`),
    upsert: db.prepare(`INSERT INTO ${table} (${key}, name, value, updated_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (${key}, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
    remove: db.prepare(`DELETE FROM ${table} WHERE ${key} = ? AND name = ?`),
  });
  const byTable = {
    fleet_config_vars: statements('fleet_config_vars', 'fleet'),
    device_config_vars: statements('device_config_vars', 'uuid'),
  };
  const q = {
    deviceFleet: db.prepare<[string], { fleet: string }>('SELECT fleet FROM devices WHERE uuid = ?'),
    settingsGet: db.prepare<[string], { settings: string }>('SELECT settings FROM device_settings WHERE uuid = ?'),
    settingsPut: db.prepare(`INSERT INTO device_settings (uuid, settings, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (uuid) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`),
  };

  const statementsOf = (scope: ConfigScope) => {
    const place = placeOf(scope);
    return { place, s: byTable[place.table as keyof typeof byTable] };
  };

  const fleetOf = (scope: ConfigScope): string | null =>
    'fleet' in scope ? scope.fleet : q.deviceFleet.get(scope.device)?.fleet ?? null;

  const setVar = db.transaction((scope: ConfigScope, name: string, value: string, stamp: Stamp): void => {
    const { place, s } = statementsOf(scope);
    const before = s.get.get(place.id, name);
    if (before?.value === value) return;
    s.upsert.run(place.id, name, value, stamp.at);
    // Values can be secrets (API keys of a meter vendor): the log keeps that it changed, not what to.
    audit.record(stamp, { action: 'config.set', target: place.target, fleet: fleetOf(scope), detail: { name, created: !before } });
  });

  const unsetVar = db.transaction((scope: ConfigScope, name: string, stamp: Stamp): boolean => {
    const { place, s } = statementsOf(scope);
    if (s.remove.run(place.id, name).changes === 0) return false;
    audit.record(stamp, { action: 'config.unset', target: place.target, fleet: fleetOf(scope), detail: { name } });
    return true;
  });

  const settingsOf = (uuid: string): Settings => {
    const row = q.settingsGet.get(uuid);
    return row ? JSON.parse(row.settings) as Settings : {};
  };

  const updateDeviceSettings = db.transaction((uuid: string, change: Parameters<ConfigStore['updateDeviceSettings']>[1], stamp: Stamp): Settings => {
    const { inherit = [], ...set } = change;
    const next: Settings = { ...settingsOf(uuid), ...set };
    for (const name of inherit) delete next[name];
    q.settingsPut.run(uuid, JSON.stringify(next), stamp.at);
    audit.record(stamp, { action: 'device.settings', target: `device:${uuid}`, fleet: fleetOf({ device: uuid }), detail: { change } });
    return next;
  });

  return {
    async vars(scope) {
      const { place, s } = statementsOf(scope);
      const vars: ConfigVars = {};
      for (const row of s.list.all(place.id)) vars[row.name] = row.value;
      return vars;
    },
    async setVar(scope, name, value, stamp) {
      setVar.immediate(scope, name, value, stamp);
    },
    async unsetVar(scope, name, stamp) {
      return unsetVar.immediate(scope, name, stamp);
    },
    async deviceSettings(uuid) {
      return settingsOf(uuid);
    },
    async updateDeviceSettings(uuid, change, stamp) {
      return updateDeviceSettings.immediate(uuid, change, stamp);
    },
  };
}

// The Store on SQLite (better-sqlite3): one file under the data dir, WAL so device polls (reads) never wait for
// a release being written. Every multi-statement change runs in one transaction.
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { ReleasePolicy } from '../../protocol/api.js';
import type { StateReport } from '../../protocol/state-report.js';
import type { ServiceSpec } from '../../protocol/target-state.js';
import { migrateSqlite } from './migrations.js';
import {
  ConflictError,
  type DeviceRecord, type DeviceStore, type DeviceView, type FleetRecord, type FleetStore, type NewFleet,
  type NewRelease, type Registration, type ReleaseRecord, type ReleaseStatus, type ReleaseStore, type Store,
} from './index.js';

interface FleetRow {
  name: string;
  device_type: string;
  provisioning_key: string;
  policy_mode: 'latest' | 'pinned';
  pinned_release_id: string | null;
  poll_interval_seconds: number;
  created_at: string;
}

interface ReleaseRow {
  id: string;
  fleet: string;
  version: string;
  status: ReleaseStatus;
  compose: string;
  spec: string;
  images: string;
  notes: string | null;
  created_at: string;
}

interface DeviceRow {
  uuid: string;
  name: string;
  fleet: string;
  device_type: string;
  key_hash: string;
  pinned_release_id: string | null;
  created_at: string;
  last_seen: string | null;
}

interface DeviceViewRow extends DeviceRow {
  report: string | null;
}

/** What a release's `spec` column holds: the normalised compose file. */
interface ReleaseSpec {
  services: ServiceSpec[];
  volumes: string[];
  networks: string[];
}

function fleetOf(row: FleetRow): FleetRecord {
  const policy: ReleasePolicy = row.policy_mode === 'pinned' && row.pinned_release_id !== null
    ? { mode: 'pinned', releaseId: row.pinned_release_id }
    : { mode: 'latest' };
  return {
    name: row.name,
    deviceType: row.device_type,
    provisioningKey: row.provisioning_key,
    policy,
    pollIntervalSeconds: row.poll_interval_seconds,
    createdAt: row.created_at,
  };
}

function releaseOf(row: ReleaseRow): ReleaseRecord {
  const spec = JSON.parse(row.spec) as ReleaseSpec;
  return {
    id: row.id,
    fleet: row.fleet,
    version: row.version,
    status: row.status,
    compose: row.compose,
    services: spec.services,
    volumes: spec.volumes,
    networks: spec.networks,
    images: JSON.parse(row.images) as Record<string, string>,
    notes: row.notes,
    createdAt: row.created_at,
  };
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
  };
}

function deviceViewOf(row: DeviceViewRow): DeviceView {
  return { ...deviceOf(row), lastReport: row.report === null ? null : (JSON.parse(row.report) as StateReport) };
}

function isUniqueViolation(err: unknown): boolean {
  return err instanceof Database.SqliteError && (err.code === 'SQLITE_CONSTRAINT_UNIQUE' || err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY');
}

const DEVICE_VIEW = `SELECT d.*, s.report FROM devices d LEFT JOIN device_state s ON s.uuid = d.uuid`;

/** Opens (creating if needed) the database at `file` and brings its schema up to date. */
export function openSqliteStore(file: string): Store {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    // Another process (a backup, a second API during a restart) may hold the write lock for a moment.
    db.pragma('busy_timeout = 5000');
    db.pragma('synchronous = NORMAL');
    migrateSqlite(db);
  } catch (err) {
    db.close();
    throw new Error(`cannot open the database ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }

  const q = {
    fleetInsert: db.prepare(`INSERT INTO fleets (name, device_type, provisioning_key, policy_mode, pinned_release_id,
      poll_interval_seconds, created_at) VALUES (@name, @deviceType, @provisioningKey, 'latest', NULL,
      @pollIntervalSeconds, @createdAt)`),
    fleetGet: db.prepare<[string], FleetRow>('SELECT * FROM fleets WHERE name = ?'),
    fleetList: db.prepare<[], FleetRow>('SELECT * FROM fleets ORDER BY name'),
    fleetPolicy: db.prepare('UPDATE fleets SET policy_mode = ?, pinned_release_id = ? WHERE name = ?'),
    releaseNextSeq: db.prepare<[string], { next: number }>('SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM releases WHERE fleet = ?'),
    releaseVersions: db.prepare<[string], { version: string }>('SELECT version FROM releases WHERE fleet = ?'),
    releaseInsert: db.prepare(`INSERT INTO releases (id, fleet, seq, version, status, compose, spec, images, notes,
      created_at) VALUES (@id, @fleet, @seq, @version, @status, @compose, @spec, @images, @notes, @createdAt)`),
    releaseGet: db.prepare<[string], ReleaseRow>('SELECT * FROM releases WHERE id = ?'),
    releaseById: db.prepare<[string, string], ReleaseRow>('SELECT * FROM releases WHERE fleet = ? AND id = ?'),
    releaseByVersion: db.prepare<[string, string], ReleaseRow>('SELECT * FROM releases WHERE fleet = ? AND version = ?'),
    releaseLatestReady: db.prepare<[string], ReleaseRow>(
      `SELECT * FROM releases WHERE fleet = ? AND status = 'ready' ORDER BY seq DESC LIMIT 1`),
    releaseList: db.prepare<[string], ReleaseRow>('SELECT * FROM releases WHERE fleet = ? ORDER BY seq DESC'),
    deviceGetRow: db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE uuid = ?'),
    deviceInsert: db.prepare(`INSERT INTO devices (uuid, name, fleet, device_type, key_hash, pinned_release_id,
      created_at, last_seen) VALUES (@uuid, @name, @fleet, @deviceType, @keyHash, NULL, @at, NULL)`),
    deviceRekey: db.prepare('UPDATE devices SET name = @name, device_type = @deviceType, key_hash = @keyHash WHERE uuid = @uuid'),
    deviceByKey: db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE key_hash = ?'),
    deviceView: db.prepare<[string], DeviceViewRow>(`${DEVICE_VIEW} WHERE d.uuid = ?`),
    deviceViewAll: db.prepare<[], DeviceViewRow>(`${DEVICE_VIEW} ORDER BY d.fleet, d.name, d.uuid`),
    deviceViewFleet: db.prepare<[string], DeviceViewRow>(`${DEVICE_VIEW} WHERE d.fleet = ? ORDER BY d.name, d.uuid`),
    deviceTouch: db.prepare('UPDATE devices SET last_seen = ? WHERE uuid = ?'),
    stateUpsert: db.prepare(`INSERT INTO device_state (uuid, report, received_at) VALUES (?, ?, ?)
      ON CONFLICT (uuid) DO UPDATE SET report = excluded.report, received_at = excluded.received_at`),
  };

  const fleets: FleetStore = {
    async create(fleet: NewFleet) {
      try {
        q.fleetInsert.run(fleet);
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(`fleet '${fleet.name}' already exists`);
        throw err;
      }
      return fleetOf(q.fleetGet.get(fleet.name) as FleetRow);
    },
    async get(name) {
      const row = q.fleetGet.get(name);
      return row ? fleetOf(row) : null;
    },
    async list() {
      return q.fleetList.all().map(fleetOf);
    },
    async setPolicy(name, policy) {
      q.fleetPolicy.run(policy.mode, policy.mode === 'pinned' ? policy.releaseId : null, name);
      const row = q.fleetGet.get(name);
      return row ? fleetOf(row) : null;
    },
  };

  const createRelease = db.transaction((release: NewRelease): ReleaseRecord => {
    const seq = (q.releaseNextSeq.get(release.fleet) as { next: number }).next;
    const version = release.version ?? nextVersion(q.releaseVersions.all(release.fleet).map((r) => r.version));
    if (q.releaseByVersion.get(release.fleet, version)) {
      throw new ConflictError(`fleet '${release.fleet}' already has a release with version '${version}'`);
    }
    const id = randomUUID();
    q.releaseInsert.run({
      id,
      fleet: release.fleet,
      seq,
      version,
      status: release.status,
      compose: release.compose,
      spec: JSON.stringify({ services: release.services, volumes: release.volumes, networks: release.networks } satisfies ReleaseSpec),
      images: JSON.stringify(release.images),
      notes: release.notes,
      createdAt: release.createdAt,
    });
    return releaseOf(q.releaseGet.get(id) as ReleaseRow);
  });

  const releases: ReleaseStore = {
    async create(release) {
      return createRelease.immediate(release);
    },
    async get(id) {
      const row = q.releaseGet.get(id);
      return row ? releaseOf(row) : null;
    },
    async find(fleet, idOrVersion) {
      const row = q.releaseById.get(fleet, idOrVersion) ?? q.releaseByVersion.get(fleet, idOrVersion);
      return row ? releaseOf(row) : null;
    },
    async latestReady(fleet) {
      const row = q.releaseLatestReady.get(fleet);
      return row ? releaseOf(row) : null;
    },
    async list(fleet) {
      return q.releaseList.all(fleet).map(releaseOf);
    },
  };

  const register = db.transaction((r: Registration): { device: DeviceRecord; created: boolean } => {
    const existing = q.deviceGetRow.get(r.uuid);
    if (existing && existing.fleet !== r.fleet) {
      throw new ConflictError(`device '${r.uuid}' is registered in fleet '${existing.fleet}', not '${r.fleet}'`);
    }
    if (existing) {
      q.deviceRekey.run({ uuid: r.uuid, name: r.name ?? existing.name, deviceType: r.deviceType, keyHash: r.keyHash });
    } else {
      q.deviceInsert.run({ uuid: r.uuid, name: r.name ?? r.uuid, fleet: r.fleet, deviceType: r.deviceType, keyHash: r.keyHash, at: r.at });
    }
    return { device: deviceOf(q.deviceGetRow.get(r.uuid) as DeviceRow), created: !existing };
  });

  const saveReport = db.transaction((uuid: string, report: StateReport, at: string) => {
    q.stateUpsert.run(uuid, JSON.stringify(report), at);
    q.deviceTouch.run(at, uuid);
  });

  const devices: DeviceStore = {
    async register(registration) {
      return register.immediate(registration);
    },
    async byKeyHash(keyHash) {
      const row = q.deviceByKey.get(keyHash);
      return row ? deviceOf(row) : null;
    },
    async get(uuid) {
      const row = q.deviceView.get(uuid);
      return row ? deviceViewOf(row) : null;
    },
    async list(fleet) {
      return (fleet === undefined ? q.deviceViewAll.all() : q.deviceViewFleet.all(fleet)).map(deviceViewOf);
    },
    async touch(uuid, at) {
      q.deviceTouch.run(at, uuid);
    },
    async saveReport(uuid, report, at) {
      saveReport(uuid, report, at);
    },
  };

  return {
    fleets,
    releases,
    devices,
    async close() {
      db.close();
    },
  };
}

/** "1", "2", ...: one more than the highest whole-number version, ignoring versions people named otherwise. */
function nextVersion(versions: readonly string[]): string {
  const numbers = versions.filter((v) => /^[1-9]\d{0,14}$/.test(v)).map(Number);
  return String(Math.max(0, ...numbers) + 1);
}

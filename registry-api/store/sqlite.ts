// The Store on SQLite (better-sqlite3): one file under the data dir, WAL so device polls (reads) never wait for
// a release being written. Every multi-statement change runs in one transaction, with its audit entry. Devices,
// users and the audit log live in sqlite-devices.ts, sqlite-users.ts and sqlite-audit.ts; config vars and device
// settings in sqlite-config.ts.
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { ReleasePolicy, ReleaseVerification } from '../../protocol/api.js';
import type { FleetSettingsChange, Settings } from '../../protocol/fleet-config.js';
import type { ServiceSpec } from '../../protocol/target-state.js';
import { migrateSqlite } from './migrations.js';
import {
  ConflictError,
  type FleetRecord, type FleetStore, type NewFleet, type NewRelease, type ReleaseRecord, type ReleaseStatus,
  type ReleaseStore, type Stamp, type Store,
} from './index.js';
import { sqliteAudit } from './sqlite-audit.js';
import { sqliteConfig } from './sqlite-config.js';
import { sqliteDevices } from './sqlite-devices.js';
import { sqliteOsReleases } from './sqlite-os.js';
import { isUniqueViolation } from './sqlite-errors.js';
import { sqliteUsers } from './sqlite-users.js';

interface FleetRow {
  name: string;
  device_type: string;
  provisioning_key: string;
  policy_mode: 'latest' | 'pinned';
  pinned_release_id: string | null;
  poll_interval_seconds: number;
  settings: string;
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
  pushed_by: string | null;
  verified_at: string | null;
  /** JSON of ReleaseVerification['failure'] when the verification failed. */
  failure: string | null;
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
    settings: JSON.parse(row.settings) as Settings,
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
    pushedBy: row.pushed_by,
    verification: row.verified_at === null ? null : {
      checkedAt: row.verified_at,
      failure: row.failure === null ? null : JSON.parse(row.failure) as ReleaseVerification['failure'],
    },
  };
}

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
    fleetSettings: db.prepare('UPDATE fleets SET poll_interval_seconds = ?, settings = ? WHERE name = ?'),
    releaseNextSeq: db.prepare<[string], { next: number }>('SELECT COALESCE(MAX(seq), 0) + 1 AS next FROM releases WHERE fleet = ?'),
    releaseVersions: db.prepare<[string], { version: string }>('SELECT version FROM releases WHERE fleet = ?'),
    releaseInsert: db.prepare(`INSERT INTO releases (id, fleet, seq, version, status, compose, spec, images, notes,
      created_at, pushed_by) VALUES (@id, @fleet, @seq, @version, @status, @compose, @spec, @images, @notes, @createdAt,
      @pushedBy)`),
    releaseSettle: db.prepare(`UPDATE releases SET status = @status, verified_at = @verifiedAt, failure = @failure
      WHERE id = @id AND status = 'pending'`),
    releasePending: db.prepare<[], ReleaseRow>(`SELECT * FROM releases WHERE status = 'pending' ORDER BY created_at, seq`),
    releaseCounts: db.prepare<[], { status: ReleaseStatus; count: number }>(
      'SELECT status, COUNT(*) AS count FROM releases GROUP BY status'),
    releaseGet: db.prepare<[string], ReleaseRow>('SELECT * FROM releases WHERE id = ?'),
    releaseById: db.prepare<[string, string], ReleaseRow>('SELECT * FROM releases WHERE fleet = ? AND id = ?'),
    releaseByVersion: db.prepare<[string, string], ReleaseRow>('SELECT * FROM releases WHERE fleet = ? AND version = ?'),
    releaseLatestReady: db.prepare<[string], ReleaseRow>(
      `SELECT * FROM releases WHERE fleet = ? AND status = 'ready' ORDER BY seq DESC LIMIT 1`),
    releaseList: db.prepare<[string], ReleaseRow>('SELECT * FROM releases WHERE fleet = ? ORDER BY seq DESC'),
  };

  const audit = sqliteAudit(db);

  const createFleet = db.transaction((fleet: NewFleet, stamp: Stamp): FleetRecord => {
    try {
      q.fleetInsert.run(fleet);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(`fleet '${fleet.name}' already exists`);
      throw err;
    }
    audit.record(stamp, { action: 'fleet.create', target: `fleet:${fleet.name}`, fleet: fleet.name, detail: { deviceType: fleet.deviceType } });
    return fleetOf(q.fleetGet.get(fleet.name) as FleetRow);
  });

  const setPolicy = db.transaction((name: string, policy: ReleasePolicy, stamp: Stamp): FleetRecord | null => {
    const before = q.fleetGet.get(name);
    if (!before) return null;
    const pinnedId = policy.mode === 'pinned' ? policy.releaseId : null;
    if (before.policy_mode === policy.mode && before.pinned_release_id === pinnedId) return fleetOf(before);
    q.fleetPolicy.run(policy.mode, pinnedId, name);
    const versionOf = (id: string | null): string | null => (id === null ? null : q.releaseGet.get(id)?.version ?? null);
    audit.record(stamp, {
      action: policy.mode === 'pinned' ? 'fleet.pin' : 'fleet.track-latest',
      target: `fleet:${name}`,
      fleet: name,
      detail: {
        ...(pinnedId === null ? {} : { releaseId: pinnedId, version: versionOf(pinnedId) }),
        previous: before.pinned_release_id === null
          ? { mode: 'latest' }
          : { mode: 'pinned', releaseId: before.pinned_release_id, version: versionOf(before.pinned_release_id) },
      },
    });
    return fleetOf(q.fleetGet.get(name) as FleetRow);
  });

  const updateSettings = db.transaction((name: string, change: FleetSettingsChange, stamp: Stamp): FleetRecord | null => {
    const before = q.fleetGet.get(name);
    if (!before) return null;
    const { pollIntervalSeconds, ...rest } = change;
    const settings: Settings = { ...(JSON.parse(before.settings) as Settings), ...rest };
    const poll = pollIntervalSeconds ?? before.poll_interval_seconds;
    q.fleetSettings.run(poll, JSON.stringify(settings), name);
    audit.record(stamp, { action: 'fleet.settings', target: `fleet:${name}`, fleet: name, detail: { change } });
    return fleetOf(q.fleetGet.get(name) as FleetRow);
  });

  const fleets: FleetStore = {
    async create(fleet, stamp) {
      return createFleet.immediate(fleet, stamp);
    },
    async get(name) {
      const row = q.fleetGet.get(name);
      return row ? fleetOf(row) : null;
    },
    async list() {
      return q.fleetList.all().map(fleetOf);
    },
    async setPolicy(name, policy, stamp) {
      return setPolicy.immediate(name, policy, stamp);
    },
    async updateSettings(name, change, stamp) {
      return updateSettings.immediate(name, change, stamp);
    },
  };

  const createRelease = db.transaction((release: NewRelease, stamp: Stamp): ReleaseRecord => {
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
      pushedBy: stamp.actor,
    });
    audit.record(stamp, {
      action: 'release.create',
      target: `release:${id}`,
      fleet: release.fleet,
      detail: { version, status: release.status, images: release.images },
    });
    return releaseOf(q.releaseGet.get(id) as ReleaseRow);
  });

  const settle = db.transaction((id: string, verification: ReleaseVerification, stamp: Stamp): ReleaseRecord | null => {
    const before = q.releaseGet.get(id);
    if (!before) return null;
    if (before.status !== 'pending') return releaseOf(before);
    const status: ReleaseStatus = verification.failure === null ? 'ready' : 'failed';
    q.releaseSettle.run({
      id,
      status,
      verifiedAt: verification.checkedAt,
      failure: verification.failure === null ? null : JSON.stringify(verification.failure),
    });
    // A fleet tracking its latest release moves with this: the entry says so in the fleet's history.
    audit.record(stamp, {
      action: status === 'ready' ? 'release.ready' : 'release.failed',
      target: `release:${id}`,
      fleet: before.fleet,
      detail: { version: before.version, ...(verification.failure === null ? {} : { failure: verification.failure }) },
    });
    return releaseOf(q.releaseGet.get(id) as ReleaseRow);
  });

  const releases: ReleaseStore = {
    async create(release, stamp) {
      return createRelease.immediate(release, stamp);
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
    async settle(id, verification, stamp) {
      return settle.immediate(id, verification, stamp);
    },
    async pending() {
      return q.releasePending.all().map(releaseOf);
    },
    async countByStatus() {
      const counts: Record<ReleaseStatus, number> = { pending: 0, ready: 0, failed: 0 };
      for (const row of q.releaseCounts.all()) counts[row.status] = row.count;
      return counts;
    },
  };

  const devices = sqliteDevices(db, audit);
  const users = sqliteUsers(db, audit);

  return {
    fleets,
    releases,
    config: sqliteConfig(db, audit),
    devices,
    users,
    audit,
    osReleases: sqliteOsReleases(db, audit),
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

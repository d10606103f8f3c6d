// Devices: admission by signed auth request (rules in ../devices/admission.ts), their tokens, the last state report, and
// what operators change (pre-authorize, accept, reject, revoke, pin, name, note, tags), each change audited in
// its own transaction.
import { recordMetrics } from './metrics.js';
import { recordTraffic } from './traffic.js';
import { Type } from '@sinclair/typebox';
import { DeviceAuthStatusSchema } from '../../protocol/device-auth.js';
import type { StateReport } from '../../protocol/state-report.js';
import { decideAdmission } from '../devices/admission.js';
import { normalizeShortId, shortIdOf } from '../devices/short-id.js';
import type { Audit } from './audit.js';
import {
  ConflictError,
  type AuthAttempt,
  type AuthOutcome,
  type DeviceChange,
  type DeviceRecord,
  type DeviceStore,
  type DeviceWithGeneration,
  type DeviceView,
  type NewDeviceToken,
  type Stamp,
} from './index.js';
import type { LastSeenBuffer } from './last-seen.js';
import { Nullable, type Database, type Queryable } from './sql/database.js';
import { noteTargetChange } from './target-generation.js';

const deviceColumns = {
  uuid: Type.String(),
  short_id: Nullable(Type.String()),
  name: Type.String(),
  fleet: Type.String(),
  device_type: Type.String(),
  platform: Nullable(Type.String()),
  key_hash: Type.String(),
  public_key: Nullable(Type.String()),
  auth_status: DeviceAuthStatusSchema,
  auth_timestamp: Nullable(Type.String()),
  pinned_release_id: Nullable(Type.String()),
  created_at: Type.String(),
  last_seen: Nullable(Type.String()),
  revoked_at: Nullable(Type.String()),
  note: Nullable(Type.String()),
  tags: Type.String(),
  customer: Nullable(Type.String()),
  site: Nullable(Type.String()),
  address: Nullable(Type.String()),
  meter_serial: Nullable(Type.String()),
};
const DeviceRow = Type.Object(deviceColumns);
type DeviceRow = typeof DeviceRow.static;
/** The columns a DeviceRecord is made of (no key hash, no auth timestamp): what the busiest reads select. */
const { key_hash: _keyHash, auth_timestamp: _authTimestamp, ...recordColumns } = deviceColumns;
type RecordRow = Omit<DeviceRow, 'key_hash' | 'auth_timestamp'>;
/** recordColumns as a select list on the alias `d`. */
const RECORD_SELECT = Object.keys(recordColumns)
  .map((column) => `d.${column}`)
  .join(', ');
const DeviceViewRow = Type.Object({ ...deviceColumns, report: Nullable(Type.String()) });
/** A device row with its own and its fleet's target generation (null: the fleet does not exist). */
const GenerationRow = Type.Object({
  ...recordColumns,
  target_generation: Type.Integer(),
  fleet_generation: Nullable(Type.Integer()),
});
type GenerationRow = typeof GenerationRow.static;
const SessionRow = Type.Object({ ...GenerationRow.properties, token_expires_at: Type.String() });
const WITH_GENERATION_COLUMNS = `${RECORD_SELECT}, d.target_generation, f.target_generation AS fleet_generation`;
const WITH_GENERATION = `SELECT ${WITH_GENERATION_COLUMNS} FROM devices d LEFT JOIN fleets f ON f.name = d.fleet`;
/** Uuids per read of withGenerations: well below SQLite's and PostgreSQL's limits on parameters. */
const UUIDS_PER_READ = 512;

/**
 * The chunk padded (with its last uuid) to a power of two, so the reads use a handful of distinct statements and
 * the prepared-statement cache stays small whatever the number of connected devices.
 */
function padded(chunk: readonly string[]): string[] {
  let size = 1;
  while (size < chunk.length) size *= 2;
  return [...chunk, ...Array.from({ length: size - chunk.length }, () => chunk.at(-1) ?? '')];
}
type DeviceViewRow = typeof DeviceViewRow.static;
const Uuid = Type.Object({ uuid: Type.String() });
const Version = Type.Object({ version: Type.String() });

function deviceOf(row: RecordRow): DeviceRecord {
  return {
    uuid: row.uuid,
    // Filled in for every row when the store opens; a null here would be a row written behind its back.
    shortId: row.short_id ?? shortIdOf(row.uuid),
    name: row.name,
    fleet: row.fleet,
    deviceType: row.device_type,
    platform: row.platform,
    publicKey: row.public_key,
    authStatus: row.auth_status,
    pinnedReleaseId: row.pinned_release_id,
    createdAt: row.created_at,
    lastSeen: row.last_seen,
    revokedAt: row.revoked_at,
    note: row.note,
    tags: JSON.parse(row.tags) as string[],
    customer: row.customer,
    site: row.site,
    address: row.address,
    meterSerial: row.meter_serial,
  };
}

function withGenerationOf(row: GenerationRow): DeviceWithGeneration {
  return { device: deviceOf(row), generation: { device: row.target_generation, fleet: row.fleet_generation } };
}

function deviceViewOf(row: DeviceViewRow): DeviceView {
  return { ...deviceOf(row), lastReport: row.report === null ? null : (JSON.parse(row.report) as StateReport) };
}

/**
 * key_hash is NOT NULL UNIQUE from before device keys (a bearer key's sha256); devices admitted by key get this,
 * unique and no sha256 hex, so no bearer key can ever match it.
 */
function noLegacyKey(uuid: string): string {
  return `none:${uuid}`;
}

const DEVICE_VIEW = `SELECT d.*, s.report FROM devices d LEFT JOIN device_state s ON s.uuid = d.uuid`;
const deviceTarget = (uuid: string): string => `device:${uuid}`;

const rowOf = (q: Queryable, uuid: string) => q.get(DeviceRow, 'SELECT * FROM devices WHERE uuid = ?', [uuid]);
const rowByKey = (q: Queryable, publicKey: string) =>
  q.get(DeviceRow, 'SELECT * FROM devices WHERE public_key = ?', [publicKey]);
const viewOf = (q: Queryable, uuid: string) => q.get(DeviceViewRow, `${DEVICE_VIEW} WHERE d.uuid = ?`, [uuid]);
const holderOfShortId = (q: Queryable, shortId: string) =>
  q.get(Uuid, 'SELECT uuid FROM devices WHERE short_id = ?', [shortId]);

/** The first free short id for `uuid` (its own, unless another device has it already). */
async function freeShortId(q: Queryable, uuid: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const id = shortIdOf(uuid, attempt);
    const holder = await holderOfShortId(q, id);
    if (!holder || holder.uuid === uuid) return id;
  }
}

/** Gives devices from before short ids theirs; run once when the store opens. */
export async function fillShortIds(db: Database): Promise<void> {
  await db.transaction(async (tx) => {
    for (const { uuid } of await tx.all(Uuid, 'SELECT uuid FROM devices WHERE short_id IS NULL')) {
      await tx.run('UPDATE devices SET short_id = ? WHERE uuid = ?', [await freeShortId(tx, uuid), uuid]);
    }
  });
}

interface NewDeviceRow {
  uuid: string;
  name: string;
  fleet: string;
  deviceType: string;
  publicKey: string;
  status: DeviceRecord['authStatus'];
  timestamp: string | null;
  at: string;
  lastSeen: string | null;
}

async function insertDevice(tx: Queryable, d: NewDeviceRow): Promise<void> {
  await tx.run(
    `INSERT INTO devices (uuid, short_id, name, fleet, device_type, key_hash, public_key, auth_status,
    auth_timestamp, pinned_release_id, created_at, last_seen) VALUES (@uuid, @shortId, @name, @fleet, @deviceType,
    @keyHash, @publicKey, @status, @timestamp, NULL, @at, @lastSeen)`,
    { ...d, shortId: await freeShortId(tx, d.uuid), keyHash: noLegacyKey(d.uuid) },
  );
}

const setStatus = (tx: Queryable, uuid: string, status: DeviceRecord['authStatus'], revokedAt: string | null) =>
  tx.run('UPDATE devices SET auth_status = ?, revoked_at = ? WHERE uuid = ?', [status, revokedAt, uuid]);
const dropTokens = (tx: Queryable, uuid: string) => tx.run('DELETE FROM device_tokens WHERE uuid = ?', [uuid]);

/**
 * Live tokens a device may hold: the one just issued and the one before it (requests already under way with it
 * still finish). Every re-auth retires the rest, so tokens never pile up, and one leaked with an old session dies
 * at the device's next auth rather than at its expiry.
 */
export const MAX_LIVE_TOKENS_PER_DEVICE = 2;

async function issueToken(tx: Queryable, uuid: string, token: NewDeviceToken, at: string): Promise<void> {
  await tx.run('DELETE FROM device_tokens WHERE uuid = ? AND expires_at <= ?', [uuid, at]);
  await tx.run(
    `DELETE FROM device_tokens WHERE uuid = ? AND hash NOT IN
       (SELECT hash FROM device_tokens WHERE uuid = ? ORDER BY created_at DESC, hash LIMIT ?)`,
    [uuid, uuid, MAX_LIVE_TOKENS_PER_DEVICE - 1],
  );
  await tx.run('INSERT INTO device_tokens (hash, uuid, created_at, expires_at) VALUES (?, ?, ?, ?)', [
    token.hash,
    uuid,
    at,
    token.expiresAt,
  ]);
}

async function recordOf(tx: Queryable, uuid: string): Promise<DeviceRecord> {
  const found = await rowOf(tx, uuid);
  if (!found) throw new Error(`device '${uuid}' vanished inside its own transaction`);
  return deviceOf(found);
}

async function authenticate(tx: Queryable, audit: Audit, a: AuthAttempt): Promise<AuthOutcome> {
  const byUuidRow = await rowOf(tx, a.uuid);
  const byKeyRow = await rowByKey(tx, a.publicKey);
  const byUuid = byUuidRow ? deviceOf(byUuidRow) : null;
  // The device this key already is: its last signed timestamp bounds what it may send next (no replay).
  const last = (byKeyRow ?? (byUuidRow?.public_key === a.publicKey ? byUuidRow : null))?.auth_timestamp ?? null;
  if (last !== null && Date.parse(a.timestamp) <= Date.parse(last)) return { kind: 'replayed', last };
  const decision = decideAdmission({
    attempt: a,
    byUuid,
    byKey: byKeyRow ? deviceOf(byKeyRow) : null,
    legacyKeyMatches: a.legacyKeyHash !== null && byUuidRow?.key_hash === a.legacyKeyHash,
  });
  const self = { actor: deviceTarget(a.uuid), at: a.at };
  const contact = async (): Promise<void> => {
    // Not audited, yet the device type shapes its target: sessions the API keeps of it must be read again.
    noteTargetChange(tx, { kind: 'device', uuid: a.uuid });
    await tx.run(
      `UPDATE devices SET auth_timestamp = @timestamp, last_seen = @at, device_type = @deviceType,
      platform = COALESCE(@platform, platform) WHERE uuid = @uuid`,
      { uuid: a.uuid, timestamp: a.timestamp, at: a.at, deviceType: a.deviceType, platform: a.platform ?? null },
    );
  };
  const admitted = async (
    uuid: string,
    how: 'known' | 'provisioning-key' | 'preauthorized' | 'legacy-key',
  ): Promise<AuthOutcome> => {
    await issueToken(tx, uuid, a.token, a.at);
    return { kind: 'accepted', device: await recordOf(tx, uuid), how };
  };
  switch (decision.kind) {
    case 'conflict':
      return { kind: 'conflict', reason: decision.reason };
    case 'invalid-uuid':
      return { kind: 'invalid-uuid', reason: decision.reason };
    case 'no-fleet':
      return { kind: 'no-fleet' };
    case 'rejected':
      await contact();
      return { kind: 'rejected', device: await recordOf(tx, a.uuid) };
    case 'still-pending':
      await contact();
      return { kind: 'pending', device: await recordOf(tx, a.uuid), created: false };
    case 'token':
      await contact();
      return admitted(a.uuid, 'known');
    case 'create': {
      await insertDevice(tx, {
        uuid: a.uuid,
        name: a.name ?? a.uuid,
        fleet: decision.fleet,
        deviceType: a.deviceType,
        publicKey: a.publicKey,
        status: decision.status,
        timestamp: a.timestamp,
        at: a.at,
        lastSeen: a.at,
      });
      if (a.platform !== undefined)
        await tx.run('UPDATE devices SET platform = ? WHERE uuid = ?', [a.platform, a.uuid]);
      await audit.record(tx, self, {
        action: decision.status === 'accepted' ? 'device.register' : 'device.request',
        target: deviceTarget(a.uuid),
        fleet: decision.fleet,
        detail: {
          deviceType: a.deviceType,
          publicKey: a.publicKey,
          ...(decision.status === 'accepted' ? { by: 'provisioning-key' } : {}),
        },
      });
      return decision.status === 'accepted'
        ? admitted(a.uuid, 'provisioning-key')
        : { kind: 'pending', device: await recordOf(tx, a.uuid), created: true };
    }
    case 'adopt': {
      const old = decision.preauthorized.uuid;
      await tx.run('UPDATE devices SET uuid = @uuid, short_id = @shortId, key_hash = @keyHash WHERE uuid = @old', {
        uuid: a.uuid,
        old,
        shortId: await freeShortId(tx, a.uuid),
        keyHash: noLegacyKey(a.uuid),
      });
      await setStatus(tx, a.uuid, 'accepted', null);
      await contact();
      await audit.record(tx, self, {
        action: 'device.register',
        target: deviceTarget(a.uuid),
        fleet: decision.preauthorized.fleet,
        detail: { by: 'preauthorized', preauthorizedAs: old },
      });
      return admitted(a.uuid, 'preauthorized');
    }
    case 'admit': {
      await setStatus(tx, a.uuid, 'accepted', null);
      await contact();
      await audit.record(tx, self, {
        action: 'device.register',
        target: deviceTarget(a.uuid),
        fleet: decision.device.fleet,
        detail: { by: decision.how },
      });
      return admitted(a.uuid, decision.how);
    }
    case 'bind-legacy': {
      await tx.run('UPDATE devices SET public_key = ?, key_hash = ? WHERE uuid = ?', [
        a.publicKey,
        noLegacyKey(a.uuid),
        a.uuid,
      ]);
      await contact();
      await audit.record(tx, self, {
        action: 'device.bind-key',
        target: deviceTarget(a.uuid),
        fleet: decision.device.fleet,
        detail: { publicKey: a.publicKey },
      });
      return admitted(a.uuid, 'legacy-key');
    }
  }
}

export function devicesOn(db: Database, audit: Audit, lastSeen: LastSeenBuffer): DeviceStore {
  /** Runs `change` on the device's row in a transaction; null if there is no such device. */
  const changing = <T>(uuid: string, change: (tx: Queryable, before: DeviceRow) => Promise<T>): Promise<T | null> =>
    db.transaction(async (tx) => {
      const before = await rowOf(tx, uuid);
      return before ? change(tx, before) : null;
    });

  return {
    async authenticate(attempt) {
      return db.transaction((tx) => authenticate(tx, audit, attempt));
    },
    async rotateKey(r) {
      return db.transaction(async (tx) => {
        const before = await rowOf(tx, r.uuid);
        if (!before) return { kind: 'refused', status: 404, reason: `device '${r.uuid}' is not known` };
        if (before.public_key !== r.oldPublicKey)
          return { kind: 'refused', status: 401, reason: `the old key is not the current key of device '${r.uuid}'` };
        if (before.auth_status !== 'accepted')
          return { kind: 'refused', status: 403, reason: `device '${r.uuid}' is ${before.auth_status}, not accepted` };
        if (before.auth_timestamp !== null && Date.parse(r.timestamp) <= Date.parse(before.auth_timestamp)) {
          return {
            kind: 'refused',
            status: 401,
            reason: `timestamp ${r.timestamp} is not later than the last one device '${r.uuid}' signed (${before.auth_timestamp})`,
          };
        }
        const holder = await rowByKey(tx, r.newPublicKey);
        if (holder)
          return {
            kind: 'refused',
            status: 409,
            reason: `the new public key is already the key of device '${holder.uuid}'`,
          };
        await tx.run('UPDATE devices SET public_key = ?, auth_timestamp = ?, last_seen = ? WHERE uuid = ?', [
          r.newPublicKey,
          r.timestamp,
          r.at,
          r.uuid,
        ]);
        await dropTokens(tx, r.uuid);
        await issueToken(tx, r.uuid, r.token, r.at);
        await audit.record(
          tx,
          { actor: deviceTarget(r.uuid), at: r.at },
          {
            action: 'device.rotate-key',
            target: deviceTarget(r.uuid),
            fleet: before.fleet,
            detail: { from: r.oldPublicKey, to: r.newPublicKey },
          },
        );
        return { kind: 'rotated', device: await recordOf(tx, r.uuid) };
      });
    },
    async preauthorize(p, stamp) {
      return db.transaction(async (tx) => {
        if (await rowOf(tx, p.uuid)) throw new ConflictError(`device '${p.uuid}' exists already`);
        const holder = await rowByKey(tx, p.publicKey);
        if (holder) throw new ConflictError(`the public key is already the key of device '${holder.uuid}'`);
        await insertDevice(tx, {
          uuid: p.uuid,
          name: p.name ?? p.uuid,
          fleet: p.fleet,
          deviceType: p.deviceType,
          publicKey: p.publicKey,
          status: 'preauthorized',
          timestamp: null,
          at: stamp.at,
          lastSeen: null,
        });
        await audit.record(tx, stamp, {
          action: 'device.preauthorize',
          target: deviceTarget(p.uuid),
          fleet: p.fleet,
          detail: { publicKey: p.publicKey },
        });
        return recordOf(tx, p.uuid);
      });
    },
    async byToken(tokenHash, at) {
      const found = await db.get(
        DeviceRow,
        `SELECT d.* FROM device_tokens t JOIN devices d ON d.uuid = t.uuid
        WHERE t.hash = ? AND t.expires_at > ?`,
        [tokenHash, at],
      );
      return found ? deviceOf(found) : null;
    },
    async byTokenWithGeneration(tokenHash, at) {
      const found = await db.get(
        SessionRow,
        `SELECT ${WITH_GENERATION_COLUMNS}, t.expires_at AS token_expires_at FROM device_tokens t
        JOIN devices d ON d.uuid = t.uuid LEFT JOIN fleets f ON f.name = d.fleet WHERE t.hash = ? AND t.expires_at > ?`,
        [tokenHash, at],
      );
      return found ? { ...withGenerationOf(found), tokenExpiresAt: found.token_expires_at } : null;
    },
    async withGenerations(uuids) {
      const found: DeviceWithGeneration[] = [];
      for (let start = 0; start < uuids.length; start += UUIDS_PER_READ) {
        const chunk = padded(uuids.slice(start, start + UUIDS_PER_READ));
        const rows = await db.all(
          GenerationRow,
          `${WITH_GENERATION} WHERE d.uuid IN (${chunk.map(() => '?').join(', ')})`,
          chunk,
        );
        found.push(...rows.map(withGenerationOf));
      }
      return found;
    },
    async get(uuidOrShortId) {
      await lastSeen.flushQuietly();
      const direct = await viewOf(db, uuidOrShortId);
      const shortId = normalizeShortId(uuidOrShortId);
      const holder = shortId === null ? null : await holderOfShortId(db, shortId);
      // Uuids of the fixed form never read as short ids; a device admitted before that rule might, and then
      // neither reading may win: an operator's command would reach whichever device the order favoured.
      if (direct && holder && holder.uuid !== direct.uuid) {
        throw new ConflictError(
          `'${uuidOrShortId}' names two devices: it is the uuid of device '${direct.uuid}' (short id ${direct.short_id ?? shortIdOf(direct.uuid)}) and the short id of device '${holder.uuid}'; name the one you mean by its other identifier`,
        );
      }
      if (direct) return deviceViewOf(direct);
      const found = holder === null ? null : await viewOf(db, holder.uuid);
      return found ? deviceViewOf(found) : null;
    },
    async withPrefix(prefix, limit) {
      const conditions = [
        ...(prefix.shortId === null ? [] : ["d.short_id LIKE @shortId || '%'"]),
        ...(prefix.uuid === null ? [] : ["d.uuid LIKE @uuid || '%'"]),
      ];
      if (conditions.length === 0) return [];
      await lastSeen.flushQuietly();
      const rows = await db.all(
        DeviceViewRow,
        `${DEVICE_VIEW} WHERE ${conditions.join(' OR ')} ORDER BY d.uuid LIMIT ${Math.max(1, Math.floor(limit))}`,
        {
          ...(prefix.shortId === null ? {} : { shortId: prefix.shortId }),
          ...(prefix.uuid === null ? {} : { uuid: prefix.uuid }),
        },
      );
      return rows.map(deviceViewOf);
    },
    async list(query = {}) {
      await lastSeen.flushQuietly();
      const conditions = [
        ...(query.fleet === undefined ? [] : ['d.fleet = @fleet']),
        ...(query.status === undefined ? [] : ['d.auth_status = @status']),
      ];
      const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
      const params = {
        ...(query.fleet === undefined ? {} : { fleet: query.fleet }),
        ...(query.status === undefined ? {} : { status: query.status }),
      };
      const rows = await db.all(DeviceViewRow, `${DEVICE_VIEW} ${where} ORDER BY d.fleet, d.name, d.uuid`, params);
      return rows.map(deviceViewOf);
    },
    async touch(uuid, at) {
      await db.run('UPDATE devices SET last_seen = ? WHERE uuid = ?', [at, uuid]);
    },
    seen(uuid, atMs) {
      lastSeen.note(uuid, atMs);
    },
    async saveReport(uuid, report, at) {
      await db.transaction(async (tx) => {
        await tx.run(
          `INSERT INTO device_state (uuid, report, received_at) VALUES (?, ?, ?)
          ON CONFLICT (uuid) DO UPDATE SET report = excluded.report, received_at = excluded.received_at`,
          [uuid, JSON.stringify(report), at],
        );
        if (report.traffic !== undefined) await recordTraffic(tx, uuid, report.traffic, at);
        if (report.metrics !== undefined) await recordMetrics(tx, uuid, report.metrics, Date.parse(at));
        await tx.run('UPDATE devices SET last_seen = ? WHERE uuid = ?', [at, uuid]);
      });
    },
    async setPin(uuid, releaseId, stamp) {
      return changing(uuid, async (tx, before) => {
        if (before.pinned_release_id === releaseId) return deviceOf(before);
        await tx.run('UPDATE devices SET pinned_release_id = ? WHERE uuid = ?', [releaseId, uuid]);
        const versionOf = async (id: string | null): Promise<string | null> =>
          id === null
            ? null
            : ((await tx.get(Version, 'SELECT version FROM releases WHERE id = ?', [id]))?.version ?? null);
        await audit.record(tx, stamp, {
          action: releaseId === null ? 'device.track-fleet' : 'device.pin',
          target: deviceTarget(uuid),
          fleet: before.fleet,
          detail: {
            ...(releaseId === null ? {} : { releaseId, version: await versionOf(releaseId) }),
            previous:
              before.pinned_release_id === null
                ? null
                : { releaseId: before.pinned_release_id, version: await versionOf(before.pinned_release_id) },
          },
        });
        return recordOf(tx, uuid);
      });
    },
    async revoke(uuid, stamp) {
      return changing(uuid, async (tx, before) => {
        if (before.revoked_at === null) {
          await setStatus(tx, uuid, 'rejected', stamp.at);
          await dropTokens(tx, uuid);
          await audit.record(tx, stamp, {
            action: 'device.revoke',
            target: deviceTarget(uuid),
            fleet: before.fleet,
            detail: { was: before.auth_status },
          });
        }
        return recordOf(tx, uuid);
      });
    },
    async accept(uuid, stamp) {
      return changing(uuid, async (tx, before) => {
        if (before.auth_status !== 'accepted') {
          await setStatus(tx, uuid, 'accepted', null);
          await audit.record(tx, stamp, {
            action: 'device.accept',
            target: deviceTarget(uuid),
            fleet: before.fleet,
            detail: {
              was: before.auth_status,
              ...(before.revoked_at === null ? {} : { revokedAt: before.revoked_at }),
            },
          });
        }
        return recordOf(tx, uuid);
      });
    },
    async reject(uuid, stamp) {
      return changing(uuid, async (tx, before) => {
        if (before.auth_status === 'accepted')
          throw new ConflictError(`device '${uuid}' is accepted: revoke it to shut it out`);
        if (before.auth_status !== 'rejected') {
          await setStatus(tx, uuid, 'rejected', null);
          await dropTokens(tx, uuid);
          await audit.record(tx, stamp, {
            action: 'device.reject',
            target: deviceTarget(uuid),
            fleet: before.fleet,
            detail: { was: before.auth_status },
          });
        }
        return recordOf(tx, uuid);
      });
    },
    async update(uuid, change: DeviceChange, stamp: Stamp) {
      return changing(uuid, async (tx, before) => {
        const old = deviceOf(before);
        const kept = <T>(given: T | undefined, was: T): T => (given === undefined ? was : given);
        const next = {
          name: change.name ?? old.name,
          note: kept(change.note, old.note),
          tags: change.tags ?? old.tags,
          customer: kept(change.customer, old.customer),
          site: kept(change.site, old.site),
          address: kept(change.address, old.address),
          meterSerial: kept(change.meterSerial, old.meterSerial),
        };
        const changed: Record<string, { from: unknown; to: unknown }> = {};
        for (const field of ['name', 'note', 'tags', 'customer', 'site', 'address', 'meterSerial'] as const) {
          if (JSON.stringify(old[field]) !== JSON.stringify(next[field]))
            changed[field] = { from: old[field], to: next[field] };
        }
        if (Object.keys(changed).length > 0) {
          await tx.run(
            `UPDATE devices SET name = @name, note = @note, tags = @tags, customer = @customer, site = @site,
               address = @address, meter_serial = @meterSerial WHERE uuid = @uuid`,
            { uuid, ...next, tags: JSON.stringify(next.tags) },
          );
          await audit.record(tx, stamp, {
            action: 'device.update',
            target: deviceTarget(uuid),
            fleet: before.fleet,
            detail: changed,
          });
        }
        return recordOf(tx, uuid);
      });
    },
  };
}

// Fleets: their device type, release policy (latest or pinned) and settings, each change
// audited in its own transaction.
import { Type } from '@sinclair/typebox';
import type { ReleasePolicy } from '../../protocol/api.js';
import type { Settings } from '../../protocol/fleet-config.js';
import { ApprovalPolicySchema, type FleetReview } from '../../protocol/release-review.js';
import type { Audit } from './audit.js';
import { ConflictError, type FleetRecord, type FleetStore } from './index.js';
import { insertProvisioningKey } from './provisioning-keys.js';
import { Nullable, type Database, type Queryable } from './sql/database.js';
import { isUniqueViolation } from './sql/errors.js';

const FleetRow = Type.Object({
  name: Type.String(),
  device_type: Type.String(),
  device_types: Type.String(),
  policy_mode: Type.Union([Type.Literal('latest'), Type.Literal('pinned')]),
  pinned_release_id: Nullable(Type.String()),
  poll_interval_seconds: Type.Integer(),
  settings: Type.String(),
  approval: ApprovalPolicySchema,
  /** JSON array of host paths. */
  allowed_host_paths: Type.String(),
  created_at: Type.String(),
  archived_at: Nullable(Type.String()),
});
const FLEET_COLUMNS =
  'name, device_type, device_types, policy_mode, pinned_release_id, poll_interval_seconds, settings, approval, allowed_host_paths, created_at, archived_at';
type FleetRow = typeof FleetRow.static;
const Version = Type.Object({ version: Type.String() });

function fleetOf(row: FleetRow): FleetRecord {
  const policy: ReleasePolicy =
    row.policy_mode === 'pinned' && row.pinned_release_id !== null
      ? { mode: 'pinned', releaseId: row.pinned_release_id }
      : { mode: 'latest' };
  return {
    name: row.name,
    deviceType: row.device_type,
    deviceTypes: JSON.parse(row.device_types) as string[],
    policy,
    pollIntervalSeconds: row.poll_interval_seconds,
    settings: JSON.parse(row.settings) as Settings,
    review: { approval: row.approval, allowedHostPaths: JSON.parse(row.allowed_host_paths) as string[] },
    createdAt: row.created_at,
    archivedAt: row.archived_at,
  };
}

const rowOf = (q: Queryable, name: string) =>
  q.get(FleetRow, `SELECT ${FLEET_COLUMNS} FROM fleets WHERE name = ?`, [name]);

async function recordOf(tx: Queryable, name: string): Promise<FleetRecord> {
  const row = await rowOf(tx, name);
  if (!row) throw new Error(`fleet '${name}' vanished inside its own transaction`);
  return fleetOf(row);
}

export function fleetsOn(db: Database, audit: Audit): FleetStore {
  return {
    async create(fleet, stamp) {
      return db.transaction(async (tx) => {
        try {
          await tx.run(
            `INSERT INTO fleets (name, device_type, device_types, provisioning_key, policy_mode, pinned_release_id,
            poll_interval_seconds, created_at) VALUES (@name, @deviceType, @deviceTypes, '', 'latest', NULL,
            @pollIntervalSeconds, @createdAt)`,
            {
              name: fleet.name,
              deviceType: fleet.deviceType,
              deviceTypes: JSON.stringify(fleet.deviceTypes),
              pollIntervalSeconds: fleet.pollIntervalSeconds,
              createdAt: fleet.createdAt,
            },
          );
        } catch (err) {
          if (isUniqueViolation(err)) throw new ConflictError(`fleet '${fleet.name}' already exists`);
          throw err;
        }
        await audit.record(tx, stamp, {
          action: 'fleet.create',
          target: `fleet:${fleet.name}`,
          fleet: fleet.name,
          detail: { deviceType: fleet.deviceType, deviceTypes: fleet.deviceTypes },
        });
        await insertProvisioningKey(
          tx,
          audit,
          {
            fleet: fleet.name,
            hash: fleet.provisioningKeyHash,
            label: 'first key',
            createdAt: fleet.createdAt,
            expiresAt: null,
          },
          stamp.actor,
        );
        return recordOf(tx, fleet.name);
      });
    },
    async get(name) {
      const row = await rowOf(db, name);
      return row ? fleetOf(row) : null;
    },
    async list() {
      return (await db.all(FleetRow, `SELECT ${FLEET_COLUMNS} FROM fleets ORDER BY name`)).map(fleetOf);
    },
    async setPolicy(name, policy, stamp) {
      return db.transaction(async (tx) => {
        const before = await rowOf(tx, name);
        if (!before) return null;
        const pinnedId = policy.mode === 'pinned' ? policy.releaseId : null;
        if (before.policy_mode === policy.mode && before.pinned_release_id === pinnedId) return fleetOf(before);
        await tx.run('UPDATE fleets SET policy_mode = ?, pinned_release_id = ? WHERE name = ?', [
          policy.mode,
          pinnedId,
          name,
        ]);
        const versionOf = async (id: string | null): Promise<string | null> =>
          id === null
            ? null
            : ((await tx.get(Version, 'SELECT version FROM releases WHERE id = ?', [id]))?.version ?? null);
        await audit.record(tx, stamp, {
          action: policy.mode === 'pinned' ? 'fleet.pin' : 'fleet.track-latest',
          target: `fleet:${name}`,
          fleet: name,
          detail: {
            ...(pinnedId === null ? {} : { releaseId: pinnedId, version: await versionOf(pinnedId) }),
            previous:
              before.pinned_release_id === null
                ? { mode: 'latest' }
                : {
                    mode: 'pinned',
                    releaseId: before.pinned_release_id,
                    version: await versionOf(before.pinned_release_id),
                  },
          },
        });
        return recordOf(tx, name);
      });
    },
    async updateSettings(name, change, stamp) {
      return db.transaction(async (tx) => {
        const before = await rowOf(tx, name);
        if (!before) return null;
        const { pollIntervalSeconds, ...rest } = change;
        const settings: Settings = { ...(JSON.parse(before.settings) as Settings), ...rest };
        const poll = pollIntervalSeconds ?? before.poll_interval_seconds;
        await tx.run('UPDATE fleets SET poll_interval_seconds = ?, settings = ? WHERE name = ?', [
          poll,
          JSON.stringify(settings),
          name,
        ]);
        await audit.record(tx, stamp, {
          action: 'fleet.settings',
          target: `fleet:${name}`,
          fleet: name,
          detail: { change },
        });
        return recordOf(tx, name);
      });
    },
    async setReview(name, change, stamp) {
      return db.transaction(async (tx) => {
        const before = await rowOf(tx, name);
        if (!before) return null;
        const old = fleetOf(before).review;
        const review: FleetReview = { ...old, ...change };
        await tx.run('UPDATE fleets SET approval = ?, allowed_host_paths = ? WHERE name = ?', [
          review.approval,
          JSON.stringify(review.allowedHostPaths),
          name,
        ]);
        await audit.record(tx, stamp, {
          action: 'fleet.review',
          target: `fleet:${name}`,
          fleet: name,
          detail: { change, previous: old },
        });
        return recordOf(tx, name);
      });
    },
  };
}

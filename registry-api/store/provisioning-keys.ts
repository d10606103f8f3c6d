// A fleet's provisioning keys, kept as their sha256 only. Revoked and expired keys stay in the table so the API can
// tell a device why its key no longer admits it; each create and revoke is audited in its own transaction.
import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { hashSecret } from '../keys/secrets.js';
import type { Audit } from './audit.js';
import type { NewProvisioningKey, ProvisioningKeyRecord, ProvisioningKeyStore } from './index.js';
import { Nullable, type Database, type Queryable } from './sql/database.js';
import { isUniqueViolation } from './sql/errors.js';

const KeyRow = Type.Object({
  id: Type.String(),
  fleet: Type.String(),
  hash: Type.String(),
  label: Nullable(Type.String()),
  created_by: Type.String(),
  created_at: Type.String(),
  expires_at: Nullable(Type.String()),
  revoked_at: Nullable(Type.String()),
});
type KeyRow = typeof KeyRow.static;

const LegacyRow = Type.Object({ name: Type.String(), provisioning_key: Type.String(), created_at: Type.String() });
const FleetName = Type.Object({ name: Type.String() });

function keyOf(row: KeyRow): ProvisioningKeyRecord {
  return {
    id: row.id,
    fleet: row.fleet,
    label: row.label,
    createdBy: row.created_by,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

/** Short enough to type in `skiff keys revoke`; the primary key catches the improbable collision. */
const newKeyId = (): string => randomBytes(6).toString('hex');

const keyById = (q: Queryable, fleet: string, id: string) =>
  q.get(KeyRow, 'SELECT * FROM provisioning_keys WHERE fleet = ? AND id = ?', [fleet, id]);

/** Inserts a key inside the caller's transaction and audits it; the fleet must exist. */
export async function insertProvisioningKey(
  tx: Queryable,
  audit: Audit,
  key: NewProvisioningKey,
  actor: string,
): Promise<ProvisioningKeyRecord> {
  const id = newKeyId();
  try {
    await tx.run(
      `INSERT INTO provisioning_keys (id, fleet, hash, label, created_by, created_at, expires_at)
      VALUES (@id, @fleet, @hash, @label, @createdBy, @createdAt, @expiresAt)`,
      { id, ...key, createdBy: actor },
    );
  } catch (err) {
    // Only a secret or id generated twice could collide: a broken random source, not something a caller did.
    if (isUniqueViolation(err))
      throw new Error(`a new provisioning key of fleet '${key.fleet}' collided with an existing one`, { cause: err });
    throw err;
  }
  await audit.record(
    tx,
    { actor, at: key.createdAt },
    {
      action: 'provisioning-key.create',
      target: `fleet:${key.fleet}`,
      fleet: key.fleet,
      detail: { key: id, label: key.label, expiresAt: key.expiresAt },
    },
  );
  const created = await keyById(tx, key.fleet, id);
  if (!created) throw new Error(`provisioning key ${id} of fleet '${key.fleet}' vanished inside its own transaction`);
  return keyOf(created);
}

/**
 * Before schema 8 a fleet kept its one key in clear in fleets.provisioning_key: each becomes a key record (hashed,
 * so it keeps admitting devices) and the column is blanked. Runs at every open; a no-op once done.
 */
export async function hashLegacyProvisioningKeys(db: Database): Promise<number> {
  return db.transaction(async (tx) => {
    const legacy = await tx.all(
      LegacyRow,
      "SELECT name, provisioning_key, created_at FROM fleets WHERE provisioning_key <> ''",
    );
    for (const fleet of legacy) {
      await tx.run(
        `INSERT INTO provisioning_keys (id, fleet, hash, label, created_by, created_at, expires_at)
        VALUES (?, ?, ?, ?, 'system', ?, NULL)`,
        [newKeyId(), fleet.name, hashSecret(fleet.provisioning_key), 'key from before key records', fleet.created_at],
      );
      await tx.run("UPDATE fleets SET provisioning_key = '' WHERE name = ?", [fleet.name]);
    }
    return legacy.length;
  });
}

export function provisioningKeysOn(db: Database, audit: Audit): ProvisioningKeyStore {
  const fleetExists = async (q: Queryable, fleet: string): Promise<boolean> =>
    (await q.get(FleetName, 'SELECT name FROM fleets WHERE name = ?', [fleet])) !== null;

  return {
    async list(fleet) {
      return (
        await db.all(KeyRow, 'SELECT * FROM provisioning_keys WHERE fleet = ? ORDER BY created_at, id', [fleet])
      ).map(keyOf);
    },
    async create(key, stamp) {
      return db.transaction(async (tx) =>
        (await fleetExists(tx, key.fleet)) ? insertProvisioningKey(tx, audit, key, stamp.actor) : null,
      );
    },
    async revoke(fleet, id, stamp) {
      return db.transaction(async (tx) => {
        const key = await keyById(tx, fleet, id);
        if (!key) return null;
        if (key.revoked_at !== null) return keyOf(key);
        await tx.run('UPDATE provisioning_keys SET revoked_at = ? WHERE id = ?', [stamp.at, id]);
        await audit.record(tx, stamp, {
          action: 'provisioning-key.revoke',
          target: `fleet:${fleet}`,
          fleet,
          detail: { key: id, label: key.label },
        });
        return keyOf({ ...key, revoked_at: stamp.at });
      });
    },
    async byHash(fleet, hash) {
      const row = await db.get(KeyRow, 'SELECT * FROM provisioning_keys WHERE fleet = ? AND hash = ?', [fleet, hash]);
      return row ? keyOf(row) : null;
    },
  };
}

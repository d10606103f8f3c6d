// Changes to many devices of one fleet at once, picked by a selector (the caller matched them): pin, let follow the
// fleet, revoke, retag. Each is one transaction and one audit entry with the selector and the counts, not one entry
// per device: the audit of a change to 5,000 meters stays readable. Each changed device's target generation moves
// and is announced (store/target-generation.ts), as a change to one device would.
import { Type } from '@sinclair/typebox';
import type { Audit } from './audit.js';
import type { Stamp } from './index.js';
import { Nullable, type Database, type Queryable } from './sql/database.js';
import { noteTargetChange } from './target-generation.js';

/** What the operation was asked for: recorded with it. */
export interface BulkFacts {
  fleet: string;
  /** The selector's text ('' for every device, asked for explicitly). */
  selector: string;
  /** How many devices it picked. */
  matched: number;
}

export interface BulkStore {
  /** Pins the fleet's devices among `uuids` to `release` or (null) lets them follow the fleet; how many changed. */
  setPins(
    facts: BulkFacts,
    uuids: readonly string[],
    release: { id: string; version: string } | null,
    stamp: Stamp,
  ): Promise<number>;
  /** Revokes the fleet's devices among `uuids` not revoked yet, dropping their tokens; how many changed. */
  revoke(facts: BulkFacts, uuids: readonly string[], stamp: Stamp): Promise<number>;
  /** Sets each device's tags to `tags.get(uuid)` where they differ; `change` is what was asked, for the audit. */
  setTags(
    facts: BulkFacts,
    tags: ReadonlyMap<string, readonly string[]>,
    change: { add: readonly string[]; remove: readonly string[] },
    stamp: Stamp,
  ): Promise<number>;
}

/** Uuids per statement: well below SQLite's and PostgreSQL's limits on parameters. */
const CHUNK = 500;

const DeviceBits = Type.Object({
  uuid: Type.String(),
  pinned_release_id: Nullable(Type.String()),
  revoked_at: Nullable(Type.String()),
  tags: Type.String(),
});
type DeviceBits = typeof DeviceBits.static;

/** The rows of the fleet's devices among `uuids` (others are left out: a device moved or went meanwhile). */
async function rowsOf(tx: Queryable, fleet: string, uuids: readonly string[]): Promise<DeviceBits[]> {
  const rows: DeviceBits[] = [];
  for (let start = 0; start < uuids.length; start += CHUNK) {
    const chunk = uuids.slice(start, start + CHUNK);
    rows.push(
      ...(await tx.all(
        DeviceBits,
        `SELECT uuid, pinned_release_id, revoked_at, tags FROM devices
         WHERE fleet = ? AND uuid IN (${chunk.map(() => '?').join(', ')})`,
        [fleet, ...chunk],
      )),
    );
  }
  return rows;
}

/** Runs `statement` (with `IN (?)` standing for the list) over `uuids` in chunks, after `leading` parameters. */
async function forEachChunk(
  tx: Queryable,
  statement: string,
  leading: readonly (string | null)[],
  uuids: readonly string[],
): Promise<void> {
  for (let start = 0; start < uuids.length; start += CHUNK) {
    const chunk = uuids.slice(start, start + CHUNK);
    await tx.run(statement.replace('IN (?)', `IN (${chunk.map(() => '?').join(', ')})`), [...leading, ...chunk]);
  }
}

async function touched(tx: Queryable, uuids: readonly string[]): Promise<void> {
  await forEachChunk(tx, 'UPDATE devices SET target_generation = target_generation + 1 WHERE uuid IN (?)', [], uuids);
  for (const uuid of uuids) noteTargetChange(tx, { kind: 'device', uuid });
}

export function deviceBulkOn(db: Database, audit: Audit): BulkStore {
  const record = (tx: Queryable, stamp: Stamp, action: string, facts: BulkFacts, changed: number, more = {}) =>
    audit.record(tx, stamp, {
      action,
      target: `fleet:${facts.fleet}`,
      fleet: facts.fleet,
      detail: { selector: facts.selector, matched: facts.matched, changed, ...more },
    });

  return {
    async setPins(facts, uuids, release, stamp) {
      return db.transaction(async (tx) => {
        const wanted = release?.id ?? null;
        const changed = (await rowsOf(tx, facts.fleet, uuids))
          .filter((row) => row.pinned_release_id !== wanted)
          .map((row) => row.uuid);
        await forEachChunk(tx, 'UPDATE devices SET pinned_release_id = ? WHERE uuid IN (?)', [wanted], changed);
        await touched(tx, changed);
        await record(
          tx,
          stamp,
          release === null ? 'device.bulk-track-fleet' : 'device.bulk-pin',
          facts,
          changed.length,
          release === null ? {} : { releaseId: release.id, version: release.version },
        );
        return changed.length;
      });
    },
    async revoke(facts, uuids, stamp) {
      return db.transaction(async (tx) => {
        const changed = (await rowsOf(tx, facts.fleet, uuids))
          .filter((row) => row.revoked_at === null)
          .map((row) => row.uuid);
        await forEachChunk(
          tx,
          "UPDATE devices SET auth_status = 'rejected', revoked_at = ? WHERE uuid IN (?)",
          [stamp.at],
          changed,
        );
        await forEachChunk(tx, 'DELETE FROM device_tokens WHERE uuid IN (?)', [], changed);
        await touched(tx, changed);
        await record(tx, stamp, 'device.bulk-revoke', facts, changed.length);
        return changed.length;
      });
    },
    async setTags(facts, tags, change, stamp) {
      return db.transaction(async (tx) => {
        let changed = 0;
        for (const row of await rowsOf(tx, facts.fleet, [...tags.keys()])) {
          const next = JSON.stringify(tags.get(row.uuid) ?? []);
          if (next === row.tags) continue;
          await tx.run('UPDATE devices SET tags = ? WHERE uuid = ?', [next, row.uuid]);
          changed++;
        }
        // Tags shape no target: no generation moves.
        await record(tx, stamp, 'device.bulk-tag', facts, changed, { add: change.add, remove: change.remove });
        return changed;
      });
    },
  };
}

// Target generations: a counter on each fleet and each device, bumped in the same transaction as every change that
// can shape a target, so a computed target may be kept in memory (../fleet/target-cache.ts) for as long as the counters
// it was computed under stay where they are, by any number of API instances over one database.
// The bump rides on the audit entry every such change writes already (the store's rule: a change that shapes
// what devices run takes a Stamp and is audited in its transaction), so no store method has to remember a
// second call, and one added later is covered the day it is audited:
// - an entry about a device (`device:UUID`: pin, settings, vars, OS pin, name, admission) bumps that device;
// - any other entry naming a fleet (`fleet:NAME`: policy, settings, vars, OS pin; `release:ID`: a release created,
//   ready or failed, which moves `latestReady`) bumps the fleet, and with it every device of the fleet;
// - entries naming no fleet (users, tokens, OS release uploads) shape no target and bump nothing.
// Bumping more than needed costs a recomputation on the next poll, never a wrong answer.
// Each bump is also announced as a TargetChange once its transaction has COMMITTED (TargetChanges): the API keeps
// device sessions and targets in memory and drops them on these announcements (../fleet/invalidation.ts), so an
// announcement must never run ahead of what a fresh read would see.
import type { Audit } from './audit.js';
import type { Database, Queryable } from './sql/database.js';

/** The counters a device's target was computed under; `fleet` is null when its fleet does not exist. */
export interface TargetGeneration {
  device: number;
  fleet: number | null;
}

const DEVICE_TARGET = 'device:';

/** What moved: a device (its target, its tokens or its admission) or a whole fleet's targets. */
export type TargetChange = { kind: 'device'; uuid: string } | { kind: 'fleet'; name: string };

export type TargetChangeListener = (changes: readonly TargetChange[]) => void | Promise<void>;

/** The changes of each open transaction, by its handle; announced when it commits, forgotten when it rolls back. */
const pendingByTransaction = new WeakMap<Queryable, TargetChange[]>();

/**
 * Notes a change that is not audited but still invalidates what the API keeps about a device (e.g. the device
 * type its auth request sends). Only inside a transaction of a tracking database (TargetChanges.tracking).
 */
export function noteTargetChange(tx: Queryable, change: TargetChange): void {
  pendingByTransaction.get(tx)?.push(change);
}

/** The committed changes of one store, announced in commit order to whoever listens (the API's invalidation bus). */
export class TargetChanges {
  private readonly listeners = new Set<TargetChangeListener>();

  /** Calls `listener` with every committed batch; returns the unsubscribe. */
  subscribe(listener: TargetChangeListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Tells every listener and waits for them (the bus publishes to the other instances before the change's
   * request is answered). A listener's failure is its own to log: the change is committed either way.
   */
  async announce(changes: readonly TargetChange[]): Promise<void> {
    if (changes.length === 0) return;
    await Promise.all(
      [...this.listeners].map(async (listener) => {
        try {
          await listener(changes);
        } catch {
          // Listeners report their own failures; the commit stands.
        }
      }),
    );
  }

  /** `db` whose transactions collect the changes noted in them and announce them after COMMIT. */
  tracking(db: Database): Database {
    return {
      ...db,
      dialect: db.dialect,
      all: db.all.bind(db),
      get: db.get.bind(db),
      run: db.run.bind(db),
      exec: db.exec.bind(db),
      close: db.close.bind(db),
      transaction: async (fn) => {
        const pending: TargetChange[] = [];
        const result = await db.transaction((tx) => {
          pendingByTransaction.set(tx, pending);
          return fn(tx);
        });
        await this.announce(pending);
        return result;
      },
    };
  }
}

async function bump(tx: Queryable, target: string, fleet: string | null): Promise<void> {
  if (target.startsWith(DEVICE_TARGET)) {
    const uuid = target.slice(DEVICE_TARGET.length);
    await tx.run('UPDATE devices SET target_generation = target_generation + 1 WHERE uuid = ?', [uuid]);
    noteTargetChange(tx, { kind: 'device', uuid });
  } else if (fleet !== null) {
    await tx.run('UPDATE fleets SET target_generation = target_generation + 1 WHERE name = ?', [fleet]);
    noteTargetChange(tx, { kind: 'fleet', name: fleet });
  }
}

/**
 * Moves the target generation of each of `uuids` and notes them for announcement: for a change that shapes these
 * devices' targets without an audit entry of its own per device (a rollout assigning hundreds at once).
 */
export async function bumpDeviceTargets(tx: Queryable, uuids: readonly string[]): Promise<void> {
  for (let i = 0; i < uuids.length; i += 400) {
    const chunk = uuids.slice(i, i + 400);
    await tx.run(
      `UPDATE devices SET target_generation = target_generation + 1 WHERE uuid IN (${chunk.map(() => '?').join(', ')})`,
      chunk,
    );
    for (const uuid of chunk) noteTargetChange(tx, { kind: 'device', uuid });
  }
}

/** The audit log, bumping the generation its entries are about in the same transaction. */
export function bumpingTargetGenerations(audit: Audit): Audit {
  return {
    ...audit,
    async record(tx, stamp, event) {
      await audit.record(tx, stamp, event);
      await bump(tx, event.target, event.fleet);
    },
  };
}

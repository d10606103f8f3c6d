// Target generations: a counter on each fleet and each device, bumped in the same transaction as every change that
// can shape a target, so a computed target may be kept in memory (../target-cache.ts) for as long as the counters
// it was computed under stay where they are, by any number of API instances over one database.
// The bump rides on the audit entry every such change writes already (the store's rule: a change that shapes
// what devices run takes a Stamp and is audited in its transaction), so no store method has to remember a
// second call, and one added later is covered the day it is audited:
// - an entry about a device (`device:UUID`: pin, settings, vars, OS pin, name, admission) bumps that device;
// - any other entry naming a fleet (`fleet:NAME`: policy, settings, vars, OS pin; `release:ID`: a release created,
//   ready or failed, which moves `latestReady`) bumps the fleet, and with it every device of the fleet;
// - entries naming no fleet (users, tokens, OS release uploads) shape no target and bump nothing.
// Bumping more than needed costs a recomputation on the next poll, never a wrong answer.
import type { Audit } from './audit.js';
import type { Queryable } from './sql/database.js';

/** The counters a device's target was computed under; `fleet` is null when its fleet does not exist. */
export interface TargetGeneration {
  device: number;
  fleet: number | null;
}

const DEVICE_TARGET = 'device:';

async function bump(tx: Queryable, target: string, fleet: string | null): Promise<void> {
  if (target.startsWith(DEVICE_TARGET)) {
    await tx.run('UPDATE devices SET target_generation = target_generation + 1 WHERE uuid = ?', [target.slice(DEVICE_TARGET.length)]);
  } else if (fleet !== null) {
    await tx.run('UPDATE fleets SET target_generation = target_generation + 1 WHERE name = ?', [fleet]);
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

// The Store on the query layer: SQLite (a file under the data dir, the embedded default) or PostgreSQL (a
// postgres:// URL), with one implementation of every table's logic for both. Opening brings the schema up to date.
import { createLogger, type Logger } from '../../lib/logger.js';
import { auditLog } from './audit.js';
import { configOn } from './config-vars.js';
import { deviceActionsOn } from './device-actions.js';
import { deviceBulkOn } from './device-bulk.js';
import { deviceGroupsOn } from './device-groups.js';
import { devicesOn, fillShortIds } from './devices.js';
import { fleetsOn } from './fleets.js';
import { loginsOn } from './logins.js';
import { LastSeenBuffer } from './last-seen.js';
import { lifecycleOn } from './lifecycle.js';
import type { Store } from './index.js';
import { MIGRATIONS } from './migrations.js';
import { osReleasesOn } from './os-releases.js';
import { hashLegacyProvisioningKeys, provisioningKeysOn } from './provisioning-keys.js';
import { releaseFilesOn } from './release-files.js';
import { releaseKeysOn } from './release-keys.js';
import { releasesOn } from './releases.js';
import { rolloutsOn } from '../rollouts/store.js';
import { bumpingTargetGenerations, TargetChanges } from './target-generation.js';
import type { Database } from './sql/database.js';
import { migrate } from './sql/migrate.js';
import { isPostgresUrl, openDatabase } from './sql/open.js';
import { redacted } from './sql/postgres.js';
import { targetIssuesOn } from './target-issues.js';
import { trafficOn } from './traffic.js';
import { tunnelsOn } from './tunnels.js';
import { metricsOn } from './metrics.js';
import { presenceOn } from './presence.js';
import { webhooksOn } from './webhooks.js';
import { usersOn } from './users.js';

/** The store over an open database whose schema is up to date. */
export function storeOn(database: Database, logger: Logger = createLogger('registry-api')): Store {
  // Every audited change also moves the target generation it touches, announced once committed (target-generation.ts).
  const changes = new TargetChanges();
  const db = changes.tracking(database);
  const plainAudit = auditLog(db);
  const audit = bumpingTargetGenerations(plainAudit);
  const lastSeen = new LastSeenBuffer(db, (err) =>
    logger.warn({ err }, "cannot write devices' last contact; kept for the next try"),
  );
  return {
    fleets: fleetsOn(db, audit),
    provisioningKeys: provisioningKeysOn(db, audit),
    releases: releasesOn(db, audit),
    releaseKeys: releaseKeysOn(db, audit),
    releaseFiles: releaseFilesOn(db),
    config: configOn(db, audit),
    devices: devicesOn(db, audit, lastSeen),
    users: usersOn(db, audit),
    logins: loginsOn(db, audit),
    audit,
    osReleases: osReleasesOn(db, audit),
    targetIssues: targetIssuesOn(db),
    traffic: trafficOn(db),
    tunnels: tunnelsOn(db, audit),
    // An action changes nothing a device should run: its audit entries move no target generation.
    deviceActions: deviceActionsOn(db, plainAudit),
    // Its own audit entries name the fleet but move only the devices a step changes (rollouts/store.ts), not all.
    rollouts: rolloutsOn(db, auditLog(db)),
    metrics: metricsOn(db),
    presence: presenceOn(db),
    // Webhooks change nothing any device runs: their audit entries move no target generation.
    webhooks: webhooksOn(db, auditLog(db)),
    changes,
    groups: deviceGroupsOn(db, audit),
    bulk: deviceBulkOn(db, audit),
    lifecycle: lifecycleOn(db, audit),
    async close() {
      // What polls noted goes in before the database closes; failing that, the next poll notes it again.
      await lastSeen
        .close()
        .catch((err: unknown) => logger.warn({ err }, "cannot write devices' last contact before closing"));
      await db.close();
    },
  };
}

/** Opens (creating if needed) the database at `location`, a SQLite file or a postgres:// URL, and migrates it. */
export async function openStore(location: string, logger?: Logger): Promise<Store> {
  const where = isPostgresUrl(location) ? redacted(location) : location;
  let db: Database;
  try {
    db = await openDatabase(location, logger);
  } catch (err) {
    throw new Error(`cannot open the database ${where}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  try {
    await migrate(db, MIGRATIONS);
    await fillShortIds(db);
    await hashLegacyProvisioningKeys(db);
  } catch (err) {
    await db.close().catch(() => undefined);
    throw new Error(
      `cannot bring the database ${where} up to date: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  return storeOn(db, logger);
}

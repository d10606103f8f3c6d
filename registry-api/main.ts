// registry-api entry point: configuration from the environment, the store (SQLite under the data dir, or
// PostgreSQL when SKIFF_DATABASE_URL is a postgres:// URL), the HTTP server, and a graceful stop on SIGTERM/SIGINT (finish answers in flight, close the database, exit 0).
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createLogger } from '../lib/logger.js';
import { messageOf } from '../lib/errors.js';
import { adminTokenOf, type AdminToken } from './keys/admin-token.js';
import { createApp } from './http/app.js';
import { FleetEventBus } from './events/bus.js';
import { RolloutDriver } from './rollouts/driver.js';
import { createApiServer } from './http/server-limits.js';
import { pushTimings } from '../protocol/device-events.js';
import { redisLogRelay, type LogRelay } from './logs/relay.js';
import { redisEventRelay, type EventRelay } from './events/relay.js';
import { startFleetActivity } from './events/activity.js';
import { localInvalidation, redisInvalidation, type InvalidationBus } from './fleet/invalidation.js';
import { DEFAULT_MAX_BUNDLE_BYTES } from './os/bundles.js';
import { configFromEnv, type ApiConfig } from './config.js';
import type { Jobs } from './jobs/index.js';
import { startJobs } from './jobs/start.js';
import { resumePendingVerifications } from './jobs/verify-release.js';
import { registryTokenIssuerOf, type RegistryTokenIssuer } from './delivery/registry-token.js';
import { signingKeyOf, type SigningKey } from './keys/signing-key.js';
import type { Store } from './store/index.js';
import { openStore } from './store/open.js';
import { isPostgresUrl } from './store/sql/open.js';
import { redacted } from './store/sql/postgres.js';
import { skiffVersion } from '../lib/package-version.js';
import { RemoteAccess } from './remote-access/remote-access.js';
import { remoteAccessFromEnv } from './remote-access/settings.js';
import { SshCa } from './remote-access/ssh-ca.js';

/** How long answers in flight get to finish before their connections are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

// Everything the API writes is its own: the database, the admin token, the signing key, OS bundles. Modes given
// explicitly say so too; this also covers what a library creates (SQLite's -wal and -shm files), whatever the
// data directory's own mode or the umask the service was started with.
process.umask(0o077);

const logger = createLogger('registry-api');

function fatal(what: string, err: unknown): never {
  logger.fatal({ err }, `${what}: ${messageOf(err)}`);
  process.exit(1);
}

let config: ApiConfig;
try {
  config = configFromEnv();
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
} catch (err) {
  fatal('invalid configuration', err);
}

// The data dir still holds the admin token and the signing key when the database is PostgreSQL.
const databaseUrl = process.env.SKIFF_DATABASE_URL?.trim() ?? '';
if (databaseUrl !== '' && !isPostgresUrl(databaseUrl)) {
  fatal(
    'invalid configuration',
    new Error(`SKIFF_DATABASE_URL must be a postgres:// or postgresql:// URL, got '${redacted(databaseUrl)}'`),
  );
}
// Several instances over one PostgreSQL database keep device sessions and targets in memory and hear each other's
// changes only through Redis (fleet/invalidation.ts): without it a revoked device could go on polling another instance.
if (databaseUrl !== '' && config.redisUrl === null) {
  fatal(
    'invalid configuration',
    new Error(
      "SKIFF_DATABASE_URL (PostgreSQL, for several API instances) needs SKIFF_REDIS_URL: instances hear each other's revocations and target changes through Redis",
    ),
  );
}
const database = databaseUrl === '' ? path.join(config.dataDir, 'skiff.db') : databaseUrl;
let store: Store;
let admin: AdminToken;
let signingKey: SigningKey;
let registryToken: RegistryTokenIssuer | null;
let remoteAccess: RemoteAccess | null = null;
try {
  store = await openStore(database, logger);
  admin = adminTokenOf(config.dataDir, config.adminToken);
  signingKey = signingKeyOf(config.dataDir, config.signingKeyFile);
  registryToken = config.registryToken === null ? null : registryTokenIssuerOf(config.registryToken);
  const remote = remoteAccessFromEnv(process.env, config.dataDir);
  if (remote !== null) {
    const ca = await SshCa.open(remote.caKeyFile);
    remoteAccess = new RemoteAccess(remote, ca, store, logger);
    // The CA's public key is no secret: logged so the jump host's and devices' TrustedUserCAKeys can be checked.
    logger.info(
      {
        jumpHost: `${remote.jumpHost.host}:${remote.jumpHost.port}`,
        ports: remote.ports,
        ca: ca.publicKey,
        caSource: ca.source,
      },
      'remote access configured',
    );
  }
} catch (err) {
  fatal('cannot start', err);
}
logger.info(
  {
    database: databaseUrl === '' ? database : redacted(databaseUrl),
    adminToken: admin.source,
    adminTokenFile: admin.file,
  },
  'store open',
);
// The public key is no secret: logged so it can be compared with what devices were provisioned with.
logger.info(
  { source: signingKey.source, file: signingKey.file, publicKey: signingKey.publicKey },
  'target signing key loaded',
);

// Without Redis the queue lives in this process; either way, releases still pending are queued again here.
let jobs: Jobs;
try {
  jobs = await startJobs({
    store,
    logger,
    redisUrl: config.redisUrl,
    redisPrefix: config.redisPrefix,
    insecureRegistries: config.insecureRegistries,
    registryToken,
  });
  const resumed = await resumePendingVerifications(store, jobs);
  logger.info({ backend: jobs.backend, resumedVerifications: resumed }, 'background jobs started');
} catch (err) {
  fatal('cannot start the background jobs', err);
}

let invalidation: InvalidationBus;
try {
  invalidation =
    config.redisUrl === null
      ? localInvalidation(store.changes)
      : await redisInvalidation({
          changes: store.changes,
          redisUrl: config.redisUrl,
          channel: `${config.redisPrefix}:invalidation`,
          logger,
        });
  logger.info({ shared: invalidation.shared }, 'invalidation bus ready');
} catch (err) {
  fatal('cannot subscribe to the invalidation bus on Redis', err);
}

// Fleet logs: with Redis, the instance a device posts to and the one a person follows through may differ.
let logRelay: LogRelay | undefined;
try {
  if (config.redisUrl !== null) {
    logRelay = await redisLogRelay({ redisUrl: config.redisUrl, channel: `${config.redisPrefix}:device-logs`, logger });
  }
} catch (err) {
  fatal('cannot subscribe to the device log relay on Redis', err);
}

// One bus for the routes, the rollout driver and fleet activity, so what any decides reaches the same subscribers;
// with Redis, every instance's streams hear every instance's events.
const events = new FleetEventBus();
let eventRelay: EventRelay | undefined;
try {
  if (config.redisUrl !== null) {
    eventRelay = await redisEventRelay(events, {
      redisUrl: config.redisUrl,
      channel: `${config.redisPrefix}:fleet-events`,
      logger,
    });
  }
} catch (err) {
  fatal('cannot subscribe to the fleet event relay on Redis', err);
}
const activity = startFleetActivity({ store, events, logger, now: () => new Date(), version: skiffVersion() });

const app = createApp({
  events,
  store,
  adminToken: admin.token,
  registry: config.registry,
  version: skiffVersion(),
  signingKey,
  logger,
  registryToken,
  jobs,
  metricsToken: config.metricsToken,
  invalidation,
  deviceLogs: logRelay === undefined ? {} : { relay: logRelay },
  osBundles: {
    dir: path.join(config.dataDir, 'os-bundles'),
    keyring: config.osBundleKeyring,
    maxBytes: DEFAULT_MAX_BUNDLE_BYTES,
  },
  maxPushChannels: config.maxPushChannels,
  targetValidityMs: config.targetValidityMs,
  pushHeartbeatSeconds: config.pushHeartbeatSeconds,
  remoteAccess,
  trustProxy: config.trustProxy,
});
const server = createApiServer(app.callback(), {
  keepAliveTimeoutMs: pushTimings(config.pushHeartbeatSeconds).serverKeepAliveMs,
});

// Rollouts move on by themselves: judged and stepped every few seconds, in step with any other instance.
const rolloutDriver = new RolloutDriver({ store, events, logger, now: () => new Date() }).start();

server.on('error', (err) => fatal(`cannot listen on ${config.host}:${config.port}`, err));
server.listen(config.port, config.host, () => {
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  logger.info({ url: `http://${host}:${port}`, registry: config.registry }, 'listening');
});

let stopping = false;
function shutdown(signal: NodeJS.Signals): void {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const force = setTimeout(() => {
    logger.warn(
      { graceMs: SHUTDOWN_GRACE_MS },
      'requests still open after the grace period: closing their connections',
    );
    server.closeAllConnections();
  }, SHUTDOWN_GRACE_MS);
  force.unref();
  server.close(() => {
    // Running jobs finish (or, on BullMQ, go back to the queue) before the database they write to closes.
    rolloutDriver
      .stop()
      .then(() => jobs.close())
      .then(() => invalidation.close())
      .then(() => logRelay?.close())
      .then(() => activity.close())
      .then(() => eventRelay?.close())
      .then(() => store.close())
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((err: unknown) => fatal('closing the job queue or the database failed', err));
  });
  // Keep-alive connections with no request in flight would hold close() open until they time out.
  server.closeIdleConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

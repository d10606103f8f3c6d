// registry-api for real, inside the test process: the Koa app of registry-api/http/app.ts over its store (a SQLite file
// in a temp data dir, or with SKIFF_TEST_STORE=postgres a PostgreSQL database of its own), an admin token and a
// target signing key generated there as main.ts does, on 127.0.0.1 and a port the OS picks. Administration goes
// through the real HTTP endpoints with the CLI's client. Every request that reaches the server is recorded
// (method, path, status, ETag headers), so a test can see what went over the wire without standing in for the API.
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type RequestListener, type Server } from 'node:http';
import { DEFAULT_HEARTBEAT_SECONDS, pushTimings } from '../protocol/device-events.js';
import { createApiServer } from '../registry-api/http/server-limits.js';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Koa from 'koa';
import type { Fleet, Release } from '../protocol/api.js';
import type { DeviceDetail } from '../protocol/device-detail.js';
import { TargetStateSchema, type TargetState } from '../protocol/target-state.js';
import { parse } from '../protocol/validate.js';
import { paths } from '../protocol/http/paths.js';
import { messageOf } from '../lib/errors.js';
import { createLogger } from '../lib/logger.js';
import { ApiClient } from '../cli/api-client.js';
import { adminTokenOf } from '../registry-api/keys/admin-token.js';
import { registryTokenIssuerOf, type RegistryTokenConfig } from '../registry-api/delivery/registry-token.js';
import { signingKeyOf, type SigningKey } from '../registry-api/keys/signing-key.js';
import { createApp } from '../registry-api/http/app.js';
import type { LoginLimitRules } from '../registry-api/web/login-limits.js';
import { FleetEventBus } from '../registry-api/events/bus.js';
import { RolloutDriver } from '../registry-api/rollouts/driver.js';
import { DEFAULT_MAX_BUNDLE_BYTES } from '../registry-api/os/bundles.js';
import type { DeviceLogsOptions } from '../registry-api/logs/device-logs.js';
import type { Store } from '../registry-api/store/index.js';
import { openStore } from '../registry-api/store/open.js';
import { skiffVersion } from '../lib/package-version.js';
import type { Jobs, RetryPolicy } from '../registry-api/jobs/index.js';
import { startJobs } from '../registry-api/jobs/start.js';
import { loadTestEnv } from './env.js';
import { testStoreLocation, type TestStoreLocation } from './test-store.js';
import { RemoteAccess } from '../registry-api/remote-access/remote-access.js';
import type { RemoteAccessSettings } from '../registry-api/remote-access/settings.js';
import { SshCa } from '../registry-api/remote-access/ssh-ca.js';

export interface ObservedRequest {
  method: string;
  /** The request target as sent (path and query). */
  path: string;
  status: number;
  ifNoneMatch: string | null;
  /** The ETag the answer carried. */
  etag: string | null;
  /** When the request arrived (Date.now()). */
  atMs: number;
}

export interface ApiServerOptions {
  /** host:port advertised in /v1/info. */
  registry?: string | null;
  /** Redis of the job worker (BullMQ); default the environment's (env.json redisUrl); null: jobs in-process. */
  redisUrl?: string | null;
  /** How release verification retries an unreachable registry; default the API's. */
  retry?: RetryPolicy;
  /** Port to listen on (a registry's token realm points at it); 0, the default, lets the OS pick. */
  port?: number;
  /** Makes the API the token server of a registry with `auth: token`. */
  registryToken?: RegistryTokenConfig;
  /** CA certificate host OS bundle uploads are checked against with `rauc info`; absent: unchecked. */
  osBundleKeyring?: string;
  /** Fleet logs' timings (registry-api/logs/device-logs.ts); default the API's. */
  deviceLogs?: DeviceLogsOptions;
  /** How long signed targets are valid; default the API's. */
  targetValidityMs?: number;
  /** The push channel's heartbeat (SKIFF_PUSH_HEARTBEAT_SECONDS); default the API's. */
  pushHeartbeatSeconds?: number;
  /** How long a push channel lives before the API ends it (its daily renewal); default the API's. */
  pushChannelMaxAgeMs?: number;
  /** The production server's limits and keep-alive (http/server-limits.ts) instead of Node's defaults. */
  productionServer?: boolean;
  /** A jump host (remote-access/); the SSH CA's key is made in the data dir unless `caKeyFile` says otherwise. */
  remoteAccess?: Omit<RemoteAccessSettings, 'caKeyFile'> & { caKeyFile?: string };
  /** Failed dashboard logins allowed per user and per address (registry-api/web/login-limits.ts); default the API's. */
  loginLimits?: LoginLimitRules;
  /** Believe X-Forwarded-Proto and the last X-Forwarded-For, as behind a reverse proxy (SKIFF_TRUST_PROXY). */
  trustProxy?: boolean;
  /** The fleet event bus the API publishes on, for tests that listen to it; default one of its own. */
  events?: FleetEventBus;
  /** How often the rollout driver steps rollouts; default the API's. */
  rolloutTickMs?: number;
}

export interface NewFleetOptions {
  deviceType?: string;
  pollIntervalSeconds?: number;
}

export interface NewReleaseOptions {
  version?: string;
  notes?: string;
}

export class ApiServer {
  /** The admin's view, over HTTP like the CLI's. */
  readonly admin: ApiClient;
  /** The job queue the server was started with; set once by start(). */
  private jobs: Jobs | null = null;
  /** Where its store lives; set once by start(). */
  private database: TestStoreLocation | null = null;
  /** The rollout driver; set once by start(). */
  private rollouts: RolloutDriver | null = null;

  private constructor(
    readonly url: string,
    readonly adminToken: string,
    readonly dataDir: string,
    /** The public key targets are signed with (base64 SPKI DER), as devices get it at registration. */
    readonly signingKey: string,
    /** Every request answered so far, oldest first. */
    readonly requests: readonly ObservedRequest[],
    private readonly server: Server,
    /** The API's own store: for tests playing a compromised API, which writes what no route would take. */
    readonly store: Store,
    private readonly signer: SigningKey,
    /** The Koa app itself, for tests that look at its router. */
    readonly app: Koa<never>,
  ) {
    this.admin = new ApiClient({ baseUrl: url, token: adminToken });
  }

  static async start(options: ApiServerOptions = {}): Promise<ApiServer> {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-api-'));
    // SQLite in the data dir, or a PostgreSQL database of its own (SKIFF_TEST_STORE=postgres).
    const database = await testStoreLocation(dataDir);
    const store = await openStore(database.location);
    const { token } = adminTokenOf(dataDir, null);
    const logger = createLogger('registry-api', { test: true });
    // Per-request info lines would drown the test's output; SKIFF_LOG_LEVEL=debug brings them back.
    logger.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
    const signingKey = signingKeyOf(dataDir, null);
    const registryToken = options.registryToken ? registryTokenIssuerOf(options.registryToken) : null;
    // A Redis key prefix of its own: servers of parallel tests share the environment's Redis, never their jobs.
    const jobs = await startJobs({
      store,
      logger,
      redisUrl: options.redisUrl === undefined ? loadTestEnv().redisUrl : options.redisUrl,
      redisPrefix: `skiff-test-${path.basename(dataDir).replace(/[^A-Za-z0-9]/g, '')}`,
      ...(options.retry ? { retry: options.retry } : {}),
      // The delta job signs its own registry tokens with the same key the token route uses.
      registryToken,
    });
    const osBundles = {
      dir: path.join(dataDir, 'os-bundles'),
      keyring: options.osBundleKeyring ?? null,
      maxBytes: DEFAULT_MAX_BUNDLE_BYTES,
    };
    const remoteAccess =
      options.remoteAccess === undefined
        ? null
        : new RemoteAccess(
            { ...options.remoteAccess, caKeyFile: options.remoteAccess.caKeyFile ?? path.join(dataDir, 'ssh-ca-key') },
            await SshCa.open(options.remoteAccess.caKeyFile ?? path.join(dataDir, 'ssh-ca-key')),
            store,
            logger,
          );
    const events = options.events ?? new FleetEventBus();
    const app = createApp({
      remoteAccess,
      events,
      store,
      adminToken: token,
      registry: options.registry ?? null,
      version: skiffVersion(),
      signingKey,
      logger,
      registryToken,
      jobs,
      osBundles,
      ...(options.deviceLogs === undefined ? {} : { deviceLogs: options.deviceLogs }),
      ...(options.targetValidityMs === undefined ? {} : { targetValidityMs: options.targetValidityMs }),
      ...(options.pushHeartbeatSeconds === undefined ? {} : { pushHeartbeatSeconds: options.pushHeartbeatSeconds }),
      ...(options.pushChannelMaxAgeMs === undefined ? {} : { pushChannelMaxAgeMs: options.pushChannelMaxAgeMs }),
      ...(options.loginLimits === undefined ? {} : { loginLimits: options.loginLimits }),
      ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }),
    });
    const handle = app.callback();
    const requests: ObservedRequest[] = [];
    const listener: RequestListener = (req, res) => {
      const atMs = Date.now();
      res.on('finish', () => {
        const etag = res.getHeader('etag');
        requests.push({
          method: req.method ?? '',
          path: req.url ?? '',
          status: res.statusCode,
          ifNoneMatch: req.headers['if-none-match'] ?? null,
          etag: typeof etag === 'string' ? etag : null,
          atMs,
        });
      });
      void handle(req, res);
    };
    const server =
      options.productionServer === true
        ? createApiServer(listener, {
            keepAliveTimeoutMs: pushTimings(options.pushHeartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS)
              .serverKeepAliveMs,
          })
        : createServer(listener);
    try {
      server.listen(options.port ?? 0, '127.0.0.1');
      await once(server, 'listening');
    } catch (err) {
      await jobs.close();
      await store.close();
      await database.dispose();
      await rm(dataDir, { recursive: true, force: true });
      throw new Error(`registry-api could not listen on 127.0.0.1: ${messageOf(err)}`, { cause: err });
    }
    const { port } = server.address() as AddressInfo;
    // As main.ts runs it: rollouts move on by themselves.
    const rollouts = new RolloutDriver({
      store,
      events,
      logger,
      now: () => new Date(),
      ...(options.rolloutTickMs === undefined ? {} : { tickMs: options.rolloutTickMs }),
    }).start();
    const api = new ApiServer(
      `http://127.0.0.1:${port}`,
      token,
      dataDir,
      signingKey.publicKey,
      requests,
      server,
      store,
      signingKey,
      app as unknown as Koa<never>,
    );
    api.jobs = jobs;
    api.database = database;
    api.rollouts = rollouts;
    return api;
  }

  async stop(): Promise<void> {
    // Supervisors keep connections alive between polls; close() alone would wait for them.
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
    await this.rollouts?.stop();
    await this.jobs?.close();
    await this.store.close();
    await this.database?.dispose();
    await rm(this.dataDir, { recursive: true, force: true });
  }

  async createFleet(name: string, options: NewFleetOptions = {}): Promise<Fleet> {
    return this.admin.createFleet({
      name,
      deviceType: options.deviceType ?? 'generic-amd64',
      ...(options.pollIntervalSeconds === undefined ? {} : { pollIntervalSeconds: options.pollIntervalSeconds }),
    });
  }

  /**
   * Pushes a release the way the CLI does: the compose text and, per service, the digest reference it runs; then
   * waits until the API verified its images (ready), so devices can get it. A failed verification throws.
   */
  async createRelease(
    fleet: string,
    compose: string,
    images: Record<string, string>,
    options: NewReleaseOptions = {},
  ): Promise<Release> {
    const created = await this.admin.createRelease(fleet, { compose, images, ...options });
    const settled = await this.releaseSettled(fleet, created.id);
    if (settled.status !== 'ready') {
      throw new Error(
        `release ${settled.version} of fleet ${fleet} failed verification: ${JSON.stringify(settled.verification?.failure)}`,
      );
    }
    return settled;
  }

  /** The release once its verification is done (ready or failed); throws after `timeoutMs`. */
  async releaseSettled(fleet: string, release: string, timeoutMs = 30_000): Promise<Release> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = await this.admin.getRelease(fleet, release);
      if (found.status !== 'pending') return found;
      if (Date.now() > deadline)
        throw new Error(`release ${found.version} of fleet ${fleet} still pending after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async device(uuid: string): Promise<DeviceDetail> {
    return this.admin.getDevice(uuid);
  }

  /** The target the API serves the device, fetched with the device's own key as the device would. */
  async deviceTarget(uuid: string, deviceKey: string): Promise<TargetState> {
    const response = await fetch(`${this.url}${paths.target(uuid)}`, {
      headers: { authorization: `Bearer ${deviceKey}` },
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`GET ${paths.target(uuid)} answered ${response.status}: ${text}`);
    return parse(TargetStateSchema, JSON.parse(text), `the target of device ${uuid}`);
  }

  /**
   * The Skiff-Signature this API would send with `target`: for tests of what a device does with a target the API
   * signed but should never have served.
   */
  signAsApi(target: TargetState): string {
    return this.signer.sign(target);
  }

  /** The recorded requests with this method and path (e.g. paths.target(uuid)), oldest first. */
  requestsTo(method: string, requestPath: string): ObservedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path === requestPath);
  }
}

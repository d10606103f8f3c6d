// What the HTTP layer is given; main.ts builds it from the environment, tests from a temp dir.
import type { Logger } from '../lib/logger.js';
import type { DeviceLogsOptions } from './logs/device-logs.js';
import type { OsBundleSettings } from './os/bundles.js';
import type { InvalidationBus } from './fleet/invalidation.js';
import type { Jobs } from './jobs/index.js';
import type { ApiMetrics } from './http/metrics.js';
import type { RegistryTokenIssuer } from './delivery/registry-token.js';
import type { SigningKey } from './keys/signing-key.js';
import type { FleetEventBus } from './events/bus.js';
import type { LoginLimitRules } from './web/login-limits.js';
import type { EventStreamSettings } from './events/stream.js';
import type { Store } from './store/index.js';
import type { TargetCache } from './fleet/target-cache.js';
import type { RemoteAccess } from './remote-access/remote-access.js';

export interface AppDeps {
  store: Store;
  adminToken: string;
  /** host:port of the image registry advertised in /v1/info; null if none. */
  registry: string | null;
  version: string;
  /** Signs every target state served; its public half goes to devices at registration. */
  signingKey: SigningKey;
  logger: Logger;
  /** The clock; tests move it to see devices go offline. */
  now?: () => Date;
  /** Background jobs (release verification); absent: an in-process queue (jobs/in-process.ts). */
  jobs?: Jobs;
  /** Absent: a registry of the app's own. */
  metrics?: ApiMetrics;
  /** A bearer token that opens GET /metrics only (SKIFF_METRICS_TOKEN); null: admins' API tokens only. */
  metricsToken?: string | null;
  /** Signs the image registry's bearer tokens (http/routes/registry-token.ts); null: this API issues none. */
  registryToken?: RegistryTokenIssuer | null;
  /** Where host OS bundles are kept (http/routes/os-releases.ts); null: uploads are refused (501). */
  osBundles?: OsBundleSettings | null;
  /** Computed targets by device and target generation (fleet/target-cache.ts); absent: one of the app's own. */
  targetCache?: TargetCache;
  /**
   * How this instance hears of committed changes to devices and fleets, its own and (Redis) every other
   * instance's; absent: this store's own only, which is right for a single instance only.
   */
  invalidation?: InvalidationBus;
  /** Fleet logs (logs/device-logs.ts): with several instances, a Redis relay between them; absent: this one alone. */
  deviceLogs?: DeviceLogsOptions;
  /** Open push channels this instance holds at most (SKIFF_MAX_PUSH_CHANNELS); absent: http/push-channels.ts's default. */
  maxPushChannels?: number;
  /** How long a signed target is valid (SKIFF_TARGET_VALIDITY_SECONDS); absent: fleet/target-cache.ts's default. */
  targetValidityMs?: number;
  /** The push channel's heartbeat period in seconds (SKIFF_PUSH_HEARTBEAT_SECONDS); absent: protocol/device-events.ts's default. */
  pushHeartbeatSeconds?: number;
  /** How long a push channel lives before the API ends it; absent: http/push-channels.ts's day. */
  pushChannelMaxAgeMs?: number;
  /** Fleet events (events/bus.ts) this instance publishes and its streams and webhooks hear; absent: one of its own. */
  events?: FleetEventBus;
  /** The jump host, device tunnels and SSH certificates (remote-access/); null or absent: none configured. */
  remoteAccess?: RemoteAccess | null;
  /** Where the dashboard's built files are (registry-api/web/static.ts); absent or null: next to the compiled API. */
  dashboardDir?: string | null;
  /** Failed dashboard logins allowed per user and per address (web/login-limits.ts); absent: its defaults. */
  loginLimits?: LoginLimitRules;
  /**
   * Behind a reverse proxy (SKIFF_TRUST_PROXY): the request's scheme and client address are the proxy's
   * X-Forwarded-Proto and last X-Forwarded-For; absent or false: the connection's own.
   */
  trustProxy?: boolean;
  /** The fleet events streams' ring, heartbeat and limits (events/stream.ts); absent: its defaults. */
  eventStream?: Partial<EventStreamSettings>;
}

export type RouteDeps = Required<AppDeps>;

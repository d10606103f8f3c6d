// registry-api's settings, read once from the environment and checked, so a typo stops the start with a message
// naming the variable instead of surfacing later as a strange failure.
import { DEFAULT_MAX_PUSH_CHANNELS } from './http/push-channels.js';
import { DEFAULT_HEARTBEAT_SECONDS, MAX_HEARTBEAT_SECONDS, MIN_HEARTBEAT_SECONDS } from '../protocol/device-events.js';

export interface ApiConfig {
  host: string;
  port: number;
  /** Holds skiff.db and, if generated, admin-token and signing-key.pem. */
  dataDir: string;
  /** host:port advertised in /v1/info; null when not set. */
  registry: string | null;
  /** From SKIFF_ADMIN_TOKEN; null means: use (or create) DATA_DIR/admin-token. */
  adminToken: string | null;
  /** From SKIFF_SIGNING_KEY_FILE (an Ed25519 PKCS#8 PEM); null means: use (or create) DATA_DIR/signing-key.pem. */
  signingKeyFile: string | null;
  /**
   * The image registry's token auth (SKIFF_REGISTRY_TOKEN_KEY_FILE: an EC P-256 PEM whose certificate is the
   * registry's rootcertbundle; _SERVICE and _ISSUER as in the registry's `auth: token`); null: no token server.
   */
  registryToken: { keyFile: string; service: string; issuer: string } | null;
  /** SKIFF_REDIS_URL: background jobs on BullMQ there; null: jobs run inside the API process. */
  redisUrl: string | null;
  /** SKIFF_REDIS_PREFIX (default skiff): namespaces the queue's keys when deployments share a Redis. */
  redisPrefix: string;
  /** SKIFF_METRICS_TOKEN: a bearer token for GET /metrics only; null: admins' API tokens only. */
  metricsToken: string | null;
  /** SKIFF_INSECURE_REGISTRIES: comma-separated host:port reached over plain HTTP (loopback always is). */
  insecureRegistries: string[];
  /** SKIFF_OS_BUNDLE_KEYRING: CA certificate uploaded host OS bundles are checked against (`rauc info`); null: unchecked. */
  osBundleKeyring: string | null;
  /** SKIFF_MAX_PUSH_CHANNELS: open push channels this instance holds at most (http/push-channels.ts). */
  maxPushChannels: number;
  /**
   * SKIFF_TARGET_VALIDITY_SECONDS (default 604800, 7 days): how long a signed target may be acted on. A device whose
   * target is older reports "target expired"; the API issues an unchanged target anew once half of it has passed,
   * so a device that polls at least that often never sees one expire.
   */
  targetValidityMs: number;
  /** SKIFF_PUSH_HEARTBEAT_SECONDS: the push channel's heartbeat, matched to the carriers' NAT timeouts. */
  pushHeartbeatSeconds: number;
  /**
   * SKIFF_TRUST_PROXY=1: the API runs behind a TLS-terminating reverse proxy whose X-Forwarded-Proto and (last)
   * X-Forwarded-For it believes: dashboard cookies are then Secure and login limits count per client address.
   */
  trustProxy: boolean;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const MIN_TOKEN_LENGTH = 16;

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const dataDir = env.SKIFF_DATA_DIR?.trim();
  if (!dataDir) throw new ConfigError('SKIFF_DATA_DIR must be set: the folder where the API keeps its database');

  const portText = env.SKIFF_API_PORT?.trim() || '4810';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535)
    throw new ConfigError(`SKIFF_API_PORT '${portText}' is not a port (0-65535)`);

  const registry = env.SKIFF_REGISTRY?.trim() || null;
  if (registry !== null && !/^[^\s/]+:\d+$/.test(registry)) {
    throw new ConfigError(`SKIFF_REGISTRY '${registry}' is not host:port`);
  }

  const adminToken = env.SKIFF_ADMIN_TOKEN?.trim() || null;
  if (adminToken !== null && adminToken.length < MIN_TOKEN_LENGTH) {
    throw new ConfigError(`SKIFF_ADMIN_TOKEN is shorter than ${MIN_TOKEN_LENGTH} characters; use a long random token`);
  }

  const signingKeyFile = env.SKIFF_SIGNING_KEY_FILE?.trim() || null;

  const tokenKeyFile = env.SKIFF_REGISTRY_TOKEN_KEY_FILE?.trim() || null;
  const registryToken =
    tokenKeyFile === null
      ? null
      : {
          keyFile: tokenKeyFile,
          service: env.SKIFF_REGISTRY_TOKEN_SERVICE?.trim() || 'skiff-registry',
          issuer: env.SKIFF_REGISTRY_TOKEN_ISSUER?.trim() || 'skiff-registry-api',
        };

  const redisUrl = env.SKIFF_REDIS_URL?.trim() || null;
  if (redisUrl !== null && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError(`SKIFF_REDIS_URL must start with redis:// or rediss://, e.g. redis://127.0.0.1:6379`);
  }
  const redisPrefix = env.SKIFF_REDIS_PREFIX?.trim() || 'skiff';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(redisPrefix))
    throw new ConfigError(`SKIFF_REDIS_PREFIX '${redisPrefix}' may hold only letters, digits, _ . -`);

  const metricsToken = env.SKIFF_METRICS_TOKEN?.trim() || null;
  if (metricsToken !== null && metricsToken.length < MIN_TOKEN_LENGTH) {
    throw new ConfigError(
      `SKIFF_METRICS_TOKEN is shorter than ${MIN_TOKEN_LENGTH} characters; use a long random token`,
    );
  }

  const insecureRegistries = (env.SKIFF_INSECURE_REGISTRIES ?? '')
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '');
  const notHostPort = insecureRegistries.find((r) => !/^[^\s/]+:\d+$/.test(r));
  if (notHostPort !== undefined) throw new ConfigError(`SKIFF_INSECURE_REGISTRIES: '${notHostPort}' is not host:port`);

  const maxPushText = env.SKIFF_MAX_PUSH_CHANNELS?.trim() || String(DEFAULT_MAX_PUSH_CHANNELS);
  const maxPushChannels = Number(maxPushText);
  if (!/^\d+$/.test(maxPushText) || maxPushChannels < 1 || !Number.isSafeInteger(maxPushChannels))
    throw new ConfigError(`SKIFF_MAX_PUSH_CHANNELS '${maxPushText}' is not a positive whole number`);

  const validityText = env.SKIFF_TARGET_VALIDITY_SECONDS?.trim() || '604800';
  const validitySeconds = Number(validityText);
  if (!/^\d+$/.test(validityText) || validitySeconds < 60 || validitySeconds > 366 * 24 * 3600)
    throw new ConfigError(
      `SKIFF_TARGET_VALIDITY_SECONDS '${validityText.slice(0, 40)}' is not a whole number of seconds from 60 to 31622400 (366 days)`,
    );
  const heartbeatText = env.SKIFF_PUSH_HEARTBEAT_SECONDS?.trim() || String(DEFAULT_HEARTBEAT_SECONDS);
  const pushHeartbeatSeconds = Number(heartbeatText);
  if (
    !/^\d+$/.test(heartbeatText) ||
    pushHeartbeatSeconds < MIN_HEARTBEAT_SECONDS ||
    pushHeartbeatSeconds > MAX_HEARTBEAT_SECONDS
  )
    throw new ConfigError(
      `SKIFF_PUSH_HEARTBEAT_SECONDS '${heartbeatText}' is not a whole number of seconds from ${MIN_HEARTBEAT_SECONDS} to ${MAX_HEARTBEAT_SECONDS}`,
    );

  const trustText = env.SKIFF_TRUST_PROXY?.trim() || '0';
  if (trustText !== '0' && trustText !== '1')
    throw new ConfigError(`SKIFF_TRUST_PROXY '${trustText.slice(0, 40)}' is neither 1 (behind a proxy) nor 0`);

  return {
    host: env.SKIFF_API_HOST?.trim() || '127.0.0.1',
    port,
    dataDir,
    registry,
    adminToken,
    signingKeyFile,
    registryToken,
    redisUrl,
    redisPrefix,
    metricsToken,
    insecureRegistries,
    osBundleKeyring: env.SKIFF_OS_BUNDLE_KEYRING?.trim() || null,
    maxPushChannels,
    targetValidityMs: validitySeconds * 1000,
    pushHeartbeatSeconds,
    trustProxy: trustText === '1',
  };
}

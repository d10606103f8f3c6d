// registry-api's settings, read once from the environment and checked, so a typo stops the start with a message
// naming the variable instead of surfacing later as a strange failure.

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
  if (!/^\d+$/.test(portText) || port > 65535) throw new ConfigError(`SKIFF_API_PORT '${portText}' is not a port (0-65535)`);

  const registry = env.SKIFF_REGISTRY?.trim() || null;
  if (registry !== null && !/^[^\s/]+:\d+$/.test(registry)) {
    throw new ConfigError(`SKIFF_REGISTRY '${registry}' is not host:port`);
  }

  const adminToken = env.SKIFF_ADMIN_TOKEN?.trim() || null;
  if (adminToken !== null && adminToken.length < MIN_TOKEN_LENGTH) {
    throw new ConfigError(`SKIFF_ADMIN_TOKEN is shorter than ${MIN_TOKEN_LENGTH} characters; use a long random token`);
  }

  const signingKeyFile = env.SKIFF_SIGNING_KEY_FILE?.trim() || null;

  return { host: env.SKIFF_API_HOST?.trim() || '127.0.0.1', port, dataDir, registry, adminToken, signingKeyFile };
}

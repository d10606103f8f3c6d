// What the HTTP layer is given; main.ts builds it from the environment, tests from a temp dir.
import type { Logger } from '../lib/logger.js';
import type { SigningKey } from './signing-key.js';
import type { Store } from './store/index.js';

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
}

export type RouteDeps = Required<AppDeps>;

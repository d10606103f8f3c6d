// What the HTTP layer is given; main.ts builds it from the environment, tests from a temp dir.
import type { Logger } from '../lib/logger.js';
import type { Store } from './store/index.js';

export interface AppDeps {
  store: Store;
  adminToken: string;
  /** host:port of the image registry advertised in /v1/info; null if none. */
  registry: string | null;
  version: string;
  logger: Logger;
  /** The clock; tests move it to see devices go offline. */
  now?: () => Date;
}

export type RouteDeps = Required<AppDeps>;

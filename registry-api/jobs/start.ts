// Builds the API's job queue with its handlers: BullMQ when a Redis URL is given, else in-process.
import type { Logger } from '../../lib/logger.js';
import { checkImage } from '../image-check.js';
import type { Store } from '../store/index.js';
import { startBullmqJobs } from './bullmq.js';
import { DEFAULT_RETRY, type JobHandlers, type Jobs, type RetryPolicy } from './index.js';
import { startInProcessJobs } from './in-process.js';
import { verificationHandlers } from './verify-release.js';

export interface JobsOptions {
  store: Store;
  logger: Logger;
  now?: () => Date;
  /** Null: jobs run in this process. */
  redisUrl?: string | null;
  /** Redis key prefix (SKIFF_REDIS_PREFIX). */
  redisPrefix?: string;
  /** host:port of registries reached over plain HTTP besides loopback ones (SKIFF_INSECURE_REGISTRIES). */
  insecureRegistries?: readonly string[];
  retry?: RetryPolicy;
}

export function jobHandlers(options: JobsOptions): JobHandlers {
  const insecureRegistries = options.insecureRegistries ?? [];
  return verificationHandlers({
    store: options.store,
    checkImage: (reference) => checkImage(reference, { insecureRegistries }),
    now: options.now ?? (() => new Date()),
    logger: options.logger,
  });
}

export async function startJobs(options: JobsOptions): Promise<Jobs> {
  const handlers = jobHandlers(options);
  const retry = options.retry ?? DEFAULT_RETRY;
  const logger = options.logger.child({ component: 'jobs' });
  if (options.redisUrl) {
    return startBullmqJobs({ redisUrl: options.redisUrl, prefix: options.redisPrefix ?? 'skiff', handlers, retry, logger });
  }
  return startInProcessJobs(handlers, retry, logger);
}

// Builds the API's job queue with its handlers: BullMQ when a Redis URL is given, else in-process.
import type { Logger } from '../../lib/logger.js';
import { checkImage } from '../image-check.js';
import type { Store } from '../store/index.js';
import { startBullmqJobs } from './bullmq.js';
import { DEFAULT_RETRY, type JobHandlers, type Jobs, type RetryPolicy } from './index.js';
import { startInProcessJobs } from './in-process.js';
import { verificationHandlers } from './verify-release.js';
import { DEFAULT_DELTA_SETTINGS, type DeltaSettings } from '../delta/generate.js';
import { RegistryIo } from '../delta/registry-io.js';
import { issueToken, type RegistryTokenIssuer } from '../registry-token.js';
import { deltaHandlers } from './delta-release.js';

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
  /** Signs the delta job's own registry tokens (pull,push) for the registry this API is the token server of. */
  registryToken?: RegistryTokenIssuer | null;
  /** Delta patch generation; false: none. */
  deltas?: DeltaSettings | false;
  /** Queues delta generation for a release that turned ready (startJobs wires it to its own queue). */
  onReleaseReady?(releaseId: string): Promise<void>;
}

export function jobHandlers(options: JobsOptions): JobHandlers {
  const insecureRegistries = options.insecureRegistries ?? [];
  const issuer = options.registryToken ?? null;
  const io = new RegistryIo({
    insecureRegistries,
    tokenFor: (ref, challenge) => Promise.resolve(issuer === null || challenge.service !== issuer.service ? null
      : issueToken(issuer, 'skiff-delta-job', [{ type: 'repository', name: ref.repository, actions: ['pull', 'push'] }], new Date()).token),
  });
  const deltas = options.deltas ?? DEFAULT_DELTA_SETTINGS;
  return {
    ...verificationHandlers({
      store: options.store,
      checkImage: (reference) => checkImage(reference, { insecureRegistries }),
      now: options.now ?? (() => new Date()),
      logger: options.logger,
      onReady: deltas === false ? undefined : options.onReleaseReady,
    }),
    ...deltaHandlers({ store: options.store, io, settings: deltas === false ? DEFAULT_DELTA_SETTINGS : deltas, logger: options.logger.child({ job: 'deltas' }) }),
  };
}

export async function startJobs(options: JobsOptions): Promise<Jobs> {
  let jobs: Jobs | null = null;
  const handlers = jobHandlers({ ...options, onReleaseReady: (id) => jobs?.generateDeltas(id) ?? Promise.resolve() });
  const retry = options.retry ?? DEFAULT_RETRY;
  const logger = options.logger.child({ component: 'jobs' });
  if (options.redisUrl) {
    jobs = await startBullmqJobs({ redisUrl: options.redisUrl, prefix: options.redisPrefix ?? 'skiff', handlers, retry, logger });
    return jobs;
  }
  jobs = startInProcessJobs(handlers, retry, logger);
  return jobs;
}

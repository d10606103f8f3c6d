// Builds the API's job queue with its handlers: BullMQ when a Redis URL is given, else in-process. This is the one
// place handlers are wired to a queue (createApp's default queue comes from here too).
import type { Logger } from '../../lib/logger.js';
import { checkImage, imageCheckRegistry, platformsOfImage } from '../delivery/image-check.js';
import type { Store } from '../store/index.js';
import { startBullmqJobs } from './bullmq.js';
import { DEFAULT_RETRY, type JobHandlers, type Jobs, type RetryPolicy } from './index.js';
import { startInProcessJobs } from './in-process.js';
import { verificationHandlers } from './verify-release.js';
import { DEFAULT_DELTA_SETTINGS, type DeltaSettings } from '../delivery/delta/generate.js';
import { mintedTokenAuth } from '../../lib/registry/auth.js';
import { RegistryClient } from '../../lib/registry/client.js';
import { issueToken, type RegistryTokenIssuer } from '../delivery/registry-token.js';
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

/** A pull-only token for the registry whose token server this API is; null for any other registry. */
function verificationTokenFor(
  issuer: RegistryTokenIssuer | null,
): (repository: string, service: string | undefined) => string | null {
  return (repository, service) =>
    issuer === null || service !== issuer.service
      ? null
      : issueToken(
          issuer,
          'skiff-release-verification',
          [{ type: 'repository', name: repository, actions: ['pull'] }],
          new Date(),
        ).token;
}

/** The delta job's registry access: anonymous, or with its own pull,push token where this API is the token server. */
export function deltaRegistryIo(options: Pick<JobsOptions, 'insecureRegistries' | 'registryToken'>): RegistryClient {
  const issuer = options.registryToken ?? null;
  return new RegistryClient({
    insecureRegistries: options.insecureRegistries ?? [],
    // Tokens live minutes; a minute is safely inside that.
    auth: mintedTokenAuth(
      (ref, service) =>
        issuer === null || service !== issuer.service
          ? null
          : issueToken(
              issuer,
              'skiff-delta-job',
              [{ type: 'repository', name: ref.repository, actions: ['pull', 'push'] }],
              new Date(),
            ).token,
      60_000,
    ),
  });
}

function jobHandlers(options: JobsOptions): JobHandlers {
  const io = deltaRegistryIo(options);
  const verificationRegistry = imageCheckRegistry({
    insecureRegistries: options.insecureRegistries ?? [],
    tokenFor: verificationTokenFor(options.registryToken ?? null),
  });
  const deltas = options.deltas ?? DEFAULT_DELTA_SETTINGS;
  return {
    ...verificationHandlers({
      store: options.store,
      checkImage: (reference) => checkImage(verificationRegistry, reference),
      imagePlatforms: (reference) => platformsOfImage(verificationRegistry, reference),
      now: options.now ?? (() => new Date()),
      logger: options.logger,
      onReady: deltas === false ? undefined : options.onReleaseReady,
    }),
    ...deltaHandlers({
      store: options.store,
      io,
      settings: deltas === false ? DEFAULT_DELTA_SETTINGS : deltas,
      logger: options.logger.child({ job: 'deltas' }),
    }),
  };
}

/**
 * Handlers with the ready -> deltas hook wired to the queue they run on: both backends get the same ones, so a
 * release that turns ready queues its delta patches whether jobs run on Redis or in this process.
 */
function wiredHandlers(options: JobsOptions): { handlers: JobHandlers; attach(jobs: Jobs): void } {
  let queue: Jobs | null = null;
  const handlers = jobHandlers({ ...options, onReleaseReady: (id) => queue?.generateDeltas(id) ?? Promise.resolve() });
  return {
    handlers,
    attach: (jobs) => {
      queue = jobs;
    },
  };
}

/** The in-process queue (no Redis), ready at once: what createApp builds when it is given no queue. */
export function startInProcessQueue(options: JobsOptions): Jobs {
  const { handlers, attach } = wiredHandlers(options);
  const jobs = startInProcessJobs(
    handlers,
    options.retry ?? DEFAULT_RETRY,
    options.logger.child({ component: 'jobs' }),
  );
  attach(jobs);
  return jobs;
}

export async function startJobs(options: JobsOptions): Promise<Jobs> {
  if (!options.redisUrl) return startInProcessQueue(options);
  const { handlers, attach } = wiredHandlers(options);
  const retry = options.retry ?? DEFAULT_RETRY;
  const jobs = await startBullmqJobs({
    redisUrl: options.redisUrl,
    prefix: options.redisPrefix ?? 'skiff',
    handlers,
    retry,
    logger: options.logger.child({ component: 'jobs' }),
  });
  attach(jobs);
  return jobs;
}

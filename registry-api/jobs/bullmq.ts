// The job queue on BullMQ (Redis): one queue, one worker in this process; several API instances share the work.
// Job data comes back from Redis, outside this process's control: it is validated before a handler sees it.
import { Queue, Worker, type Job } from 'bullmq';
import type { Logger } from '../../lib/logger.js';
import { parse } from '../../protocol/validate.js';
import { REDIS_COMMAND_TIMEOUT_MS } from '../redis-channel.js';
import {
  GenerateDeltasJobSchema,
  JOB_NAMES,
  JOB_STATES,
  QUEUE_NAME,
  VerifyReleaseJobSchema,
  jobIdOf,
  type Attempt,
  type JobCounts,
  type JobHandlers,
  type Jobs,
  type RetryPolicy,
} from './index.js';

export interface BullmqOptions {
  redisUrl: string;
  /** Namespaces the Redis keys: one per deployment sharing a Redis (tests use a random one each). */
  prefix: string;
  handlers: JobHandlers;
  retry: RetryPolicy;
  logger: Logger;
  concurrency?: number;
  /** How long to wait for Redis at start before giving up. */
  connectTimeoutMs?: number;
}

/** The URL without its password, for logs and errors. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable Redis URL)';
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function startBullmqJobs(options: BullmqOptions): Promise<Jobs> {
  const { handlers, retry, logger, prefix } = options;
  // Workers block on Redis; BullMQ wants their commands never to give up on their own.
  const connection = { url: options.redisUrl, maxRetriesPerRequest: null };
  // The queue only adds and reads jobs, on behalf of a request: against a hung Redis it fails within the command
  // timeout instead of holding the request (the release stays pending and is queued again at the next start).
  const queueConnection = { url: options.redisUrl, maxRetriesPerRequest: 1, commandTimeout: REDIS_COMMAND_TIMEOUT_MS };
  const where = `${redactedUrl(options.redisUrl)} (prefix ${prefix})`;

  const queue = new Queue(QUEUE_NAME, {
    connection: queueConnection,
    prefix,
    defaultJobOptions: {
      attempts: retry.attempts,
      backoff: { type: 'exponential', delay: retry.backoffMs },
      // Enough history to look into with redis-cli; the database is the record that counts.
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 1000 },
    },
  });

  const process = async (job: Job): Promise<void> => {
    const attempt: Attempt = { number: job.attemptsMade + 1, final: job.attemptsMade + 1 >= (job.opts.attempts ?? 1) };
    switch (job.name) {
      case JOB_NAMES.verifyRelease:
        return handlers.verifyRelease(
          parse(VerifyReleaseJobSchema, job.data, `data of job ${job.id ?? '?'} (${job.name})`),
          attempt,
        );
      case JOB_NAMES.generateDeltas:
        return handlers.generateDeltas(
          parse(GenerateDeltasJobSchema, job.data, `data of job ${job.id ?? '?'} (${job.name})`),
          attempt,
        );
      default:
        // A job a newer API version queued: fail it loudly rather than guess.
        throw new Error(`job ${job.id ?? '?'} has the unknown name '${job.name}' (queue ${QUEUE_NAME} at ${where})`);
    }
  };

  const worker = new Worker(QUEUE_NAME, process, { connection, prefix, concurrency: options.concurrency ?? 4 });
  worker.on('failed', (job, err) => {
    const final = job !== undefined && job.attemptsMade >= (job.opts.attempts ?? 1);
    logger[final ? 'error' : 'warn'](
      { err, job: job?.id, name: job?.name, attempt: job?.attemptsMade },
      final ? 'job failed on its last attempt' : 'job failed, will retry',
    );
  });
  worker.on('error', (err) => logger.error({ err, redis: where }, 'job worker error'));
  queue.on('error', (err) => logger.error({ err, redis: where }, 'job queue error'));

  try {
    await withTimeout(
      Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]),
      options.connectTimeoutMs ?? 10_000,
      `connecting to Redis at ${where}`,
    );
  } catch (err) {
    await Promise.allSettled([worker.close(true), queue.close()]);
    throw err;
  }
  logger.info({ redis: where, queue: QUEUE_NAME }, 'job worker started on BullMQ');

  return {
    backend: 'bullmq',
    async verifyRelease(releaseId) {
      const jobId = jobIdOf(JOB_NAMES.verifyRelease, releaseId);
      // A job id BullMQ still remembers as failed would swallow the new one: the release is still owed a check.
      const earlier = await queue.getJob(jobId);
      if (earlier && (await earlier.isFailed())) await earlier.remove();
      await queue.add(JOB_NAMES.verifyRelease, { releaseId }, { jobId });
    },
    async generateDeltas(releaseId) {
      const jobId = jobIdOf(JOB_NAMES.generateDeltas, releaseId);
      const earlier = await queue.getJob(jobId);
      if (earlier && (await earlier.isFailed())) await earlier.remove();
      await queue.add(JOB_NAMES.generateDeltas, { releaseId }, { jobId });
    },
    async counts() {
      const raw = await queue.getJobCounts(...JOB_STATES);
      return Object.fromEntries(JOB_STATES.map((state) => [state, raw[state] ?? 0])) as JobCounts;
    },
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}

// Background jobs of the API: what they are, how they are retried, and the one interface routes queue them
// through. Two backends do the same work: BullMQ on Redis (jobs/bullmq.ts: survives restarts, shared by several
// API instances) when SKIFF_REDIS_URL is set, else a queue inside the process (jobs/in-process.ts: lost on
// restart, which is harmless because every job can be derived again from the database; main.ts re-queues what is
// still owed at start). Release verification is the first job; delta generation and offline detection are meant
// to become further names in JOB_NAMES with their handlers, on the same queue.
import { Type, type Static } from '@sinclair/typebox';

/** The one queue's name; Redis keys are `${prefix}:${QUEUE_NAME}:...`. */
export const QUEUE_NAME = 'skiff-jobs';

export const JOB_NAMES = {
  verifyRelease: 'verify-release',
  generateDeltas: 'generate-deltas',
} as const;

export const VerifyReleaseJobSchema = Type.Object(
  { releaseId: Type.String({ minLength: 1 }) },
  { additionalProperties: false },
);
export type VerifyReleaseJob = Static<typeof VerifyReleaseJobSchema>;
/** Delta patches for a ready release (jobs/delta-release.ts). */
export const GenerateDeltasJobSchema = VerifyReleaseJobSchema;

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  /** Wait before the second try; doubled for each one after. */
  backoffMs: number;
}

/** About a minute and a half of retries (2+4+8+16+32+64 s): a registry restarting is waited for. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 7, backoffMs: 2_000 };

export function backoffBefore(attempt: number, retry: RetryPolicy): number {
  return retry.backoffMs * 2 ** (attempt - 2);
}

/** Which try this is: a handler gives up on a passing trouble (and records why) on the final one. */
export interface Attempt {
  number: number;
  final: boolean;
}

export interface JobHandlers {
  verifyRelease(job: VerifyReleaseJob, attempt: Attempt): Promise<void>;
  generateDeltas(job: VerifyReleaseJob, attempt: Attempt): Promise<void>;
}

export const JOB_STATES = ['waiting', 'active', 'delayed', 'completed', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];
export type JobCounts = Record<JobState, number>;

export interface Jobs {
  readonly backend: 'bullmq' | 'in-process';
  /** Queues the verification of a release; one already queued or running is not queued twice. */
  verifyRelease(releaseId: string): Promise<void>;
  /** Queues delta patch generation for a ready release. */
  generateDeltas(releaseId: string): Promise<void>;
  /** Jobs by state, for /metrics; completed and failed are what the backend still remembers. */
  counts(): Promise<JobCounts>;
  /** Stops taking jobs and waits for the running ones. */
  close(): Promise<void>;
}

/** Job ids that name their subject, so queueing the same work twice finds the first (BullMQ refuses ':' in ids). */
export function jobIdOf(name: string, subject: string): string {
  return `${name}-${subject}`;
}

// The job queue without Redis: jobs run in this process, retried on timers with the same policy as BullMQ's.
// Nothing survives a restart; main.ts re-queues what the database says is still owed, so nothing is lost either.
import type { Logger } from '../../lib/logger.js';
import {
  backoffBefore,
  jobIdOf,
  JOB_NAMES,
  type Attempt,
  type JobCounts,
  type JobHandlers,
  type Jobs,
  type RetryPolicy,
} from './index.js';

/** Finished jobs are counted, not kept. */
export function startInProcessJobs(handlers: JobHandlers, retry: RetryPolicy, logger: Logger): Jobs {
  const queued = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  const counts: JobCounts = { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 };
  let closed = false;

  const run = (id: string, work: (attempt: Attempt) => Promise<void>, number: number): void => {
    if (closed) return;
    counts.active += 1;
    const attempt: Attempt = { number, final: number >= retry.attempts };
    const done = work(attempt)
      .then(
        () => {
          counts.completed += 1;
          queued.delete(id);
        },
        (err: unknown) => {
          if (attempt.final || closed) {
            counts.failed += 1;
            queued.delete(id);
            logger.error({ err, job: id, attempt: number }, 'job failed on its last attempt');
            return;
          }
          const delay = backoffBefore(number + 1, retry);
          logger.warn({ err, job: id, attempt: number, retryInMs: delay }, 'job failed, will retry');
          counts.delayed += 1;
          const timer = setTimeout(() => {
            timers.delete(timer);
            counts.delayed -= 1;
            run(id, work, number + 1);
          }, delay);
          // A retry pending must not keep a stopping process alive.
          timer.unref();
          timers.add(timer);
        },
      )
      .finally(() => {
        counts.active -= 1;
        running.delete(done);
      });
    running.add(done);
  };

  const enqueue = (id: string, work: (attempt: Attempt) => Promise<void>): void => {
    if (closed || queued.has(id)) return;
    queued.add(id);
    counts.waiting += 1;
    // Never inside the request that queued it: the answer goes out first, as with a real queue.
    setImmediate(() => {
      counts.waiting -= 1;
      run(id, work, 1);
    });
  };

  return {
    backend: 'in-process',
    async verifyRelease(releaseId) {
      enqueue(jobIdOf(JOB_NAMES.verifyRelease, releaseId), (attempt) => handlers.verifyRelease({ releaseId }, attempt));
    },
    async generateDeltas(releaseId) {
      enqueue(jobIdOf(JOB_NAMES.generateDeltas, releaseId), (attempt) =>
        handlers.generateDeltas({ releaseId }, attempt),
      );
    },
    async counts() {
      return { ...counts };
    },
    async close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled([...running]);
    },
  };
}

// The control loop: read the engine, plan, apply, and again, until the plan is empty. Level-triggered: a pass never
// trusts what it did before, it only looks at the engine, so a crash, a lost answer or a new target in the middle
// of an update is handled by simply planning again. Runs on a new target, on a periodic resync, and on retry after
// a failure (with exponential backoff).
import type { TargetState } from '../protocol/target-state.js';
import type { Logger } from '../lib/logger.js';
import { messageOf } from '../lib/errors.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { canonicalJson } from '../protocol/canonical-json.js';
import { readCurrentState } from './current-state.js';
import { imagesOf } from './desired-state.js';
import type { Engine } from './engine.js';
import { execute, StepError } from './executor.js';
import { plan, waitingFor, type Step, type Waiting } from './planner.js';
import { Wakeup } from './wakeup.js';

export type ReconcilePhase =
  /** No target yet: nothing is managed, nothing is touched. */
  | 'idle'
  | 'converged'
  | 'downloading'
  | 'applying'
  | 'error';

export interface ReconcileStatus {
  phase: ReconcilePhase;
  error: string | null;
  /** Services held back by dependencies that are not ready yet. */
  waiting: Waiting[];
}

export interface ReconcilerOptions {
  engine: Engine;
  log: Logger;
  /** Plans applied in one pass before giving up as "not converging". */
  maxIterations?: number;
  /** A converged device re-checks the engine this often (a container may have been removed by hand). */
  resyncIntervalMs?: number;
  /** How soon to look again while services wait for a dependency to become ready. */
  dependencyRecheckMs?: number;
  retry?: BackoffPolicy;
}

function summary(steps: Step[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of steps) counts[s.kind] = (counts[s.kind] ?? 0) + 1;
  return counts;
}

export class Reconciler {
  private target: TargetState | null = null;
  private status: ReconcileStatus = { phase: 'idle', error: null, waiting: [] };
  private readonly wakeup = new Wakeup();
  private readonly listeners = new Set<(status: ReconcileStatus) => void>();
  private failures = 0;
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly maxIterations: number;
  private readonly resyncIntervalMs: number;
  private readonly dependencyRecheckMs: number;
  private readonly retry: BackoffPolicy;

  constructor(private readonly options: ReconcilerOptions) {
    this.maxIterations = options.maxIterations ?? 20;
    this.resyncIntervalMs = options.resyncIntervalMs ?? 60_000;
    this.dependencyRecheckMs = options.dependencyRecheckMs ?? 2_000;
    this.retry = options.retry ?? { initialMs: 2_000, maxMs: 300_000 };
  }

  currentTarget(): TargetState | null {
    return this.target;
  }

  currentStatus(): ReconcileStatus {
    return this.status;
  }

  /** Takes a target that already passed acceptTarget; the running pass picks it up at its next iteration. */
  setTarget(target: TargetState): void {
    this.target = target;
    this.failures = 0;
    this.wakeup.wake();
  }

  /** Asks for a pass now (e.g. after the engine restarted). */
  resync(): void {
    this.wakeup.wake();
  }

  onStatus(listener: (status: ReconcileStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.running !== undefined) return;
    this.stopped = false;
    this.running = this.loop();
  }

  /** Ends the loop after the step in flight; containers keep running. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeup.wake();
    await this.running;
    this.running = undefined;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const delay = await this.runPass();
      if (this.stopped) break;
      await this.wakeup.wait(delay);
    }
  }

  /**
   * One pass: plan and apply until the plan is empty, a step fails, or the iteration guard trips. Returns how
   * long to wait before the next pass. Public so tests can drive the loop one pass at a time.
   */
  async runPass(): Promise<number> {
    const { engine, log } = this.options;
    if (this.target === null) {
      this.setStatus({ phase: 'idle', error: null, waiting: [] });
      return this.resyncIntervalMs;
    }
    try {
      for (let iteration = 1; iteration <= this.maxIterations; iteration++) {
        if (this.stopped) return 0;
        // Re-read every iteration: a target that arrived during the last apply wins from here on.
        const target = this.target;
        const current = await readCurrentState(engine, imagesOf(target));
        const steps = plan(current, target);
        if (steps.length === 0) {
          this.failures = 0;
          const waiting = waitingFor(current, target);
          if (waiting.length > 0) {
            this.setStatus({ phase: 'applying', error: null, waiting });
            return this.dependencyRecheckMs;
          }
          this.setStatus({ phase: 'converged', error: null, waiting: [] });
          return this.resyncIntervalMs;
        }
        const downloading = steps.some((s) => s.kind === 'fetchImage');
        this.setStatus({ phase: downloading ? 'downloading' : 'applying', error: null, waiting: [] });
        log.info({ release: target.release?.id ?? null, iteration, steps: summary(steps) }, 'applying plan');
        await execute(steps, engine, log);
      }
      throw new Error(`target did not converge after ${this.maxIterations} plans`);
    } catch (err) {
      this.failures++;
      const delay = backoffDelay(this.failures, this.retry);
      log.error({
        err: messageOf(err),
        step: err instanceof StepError ? err.step.kind : undefined,
        attempt: this.failures,
        retryInMs: delay,
      }, 'reconcile failed');
      this.setStatus({ phase: 'error', error: messageOf(err), waiting: [] });
      return delay;
    }
  }

  private setStatus(status: ReconcileStatus): void {
    if (canonicalJson(status) === canonicalJson(this.status)) return;
    this.status = status;
    this.options.log.info({ phase: status.phase, error: status.error, waiting: status.waiting.length || undefined }, 'status');
    for (const listener of this.listeners) listener(status);
  }
}

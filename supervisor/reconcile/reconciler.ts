// The control loop: read the engine, plan, apply, and again, until the plan is empty. Level-triggered: a pass never
// trusts what it did before, it only looks at the engine, so a crash, a lost answer or a new target in the middle
// of an update is handled by simply planning again. Runs on a new target, on a periodic resync, and on retry after
// a failure (with exponential backoff).
import type { TargetState } from '../../protocol/target-state.js';
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import { backoffDelay, type BackoffPolicy } from '../../lib/backoff.js';
import { canonicalJson } from '../../protocol/canonical-json.js';
import { readCurrentState, type CurrentState } from './current-state.js';
import { imagesOf } from '../plan/desired-state.js';
import type { DiskFacts } from '../plan/disk-space.js';
import type { BudgetFacts } from '../plan/data-budget.js';
import type { Engine } from '../engine/engine.js';
import { execute, StepError } from './executor.js';
import { planUpdate, type PlanContext, type Step, type Waiting } from '../plan/planner.js';
import { handoverWrittenAt, heldLocks } from './update-lock.js';
import { msUntilChange, stepsAllowed, updateWindowState } from './update-window.js';
import { PassLoop } from '../device/wakeup.js';

export type ReconcilePhase =
  /** No target yet: nothing is managed, nothing is touched. */
  | 'idle'
  /**
   * A new target was taken and no pass has judged it yet: the last pass's status spoke of the target before, so
   * it is dropped here rather than shown for the new one until the next pass (../online/reporter.ts says what is pending).
   */
  | 'pending'
  | 'converged'
  | 'downloading'
  | 'applying'
  | 'error';

export interface ReconcileStatus {
  phase: ReconcilePhase;
  error: string | null;
  /** Services held back by dependencies that are not ready yet. */
  waiting: Waiting[];
  /** Services whose update lock holds the release back (absent: none). */
  locked?: string[];
  /** The pending update waits for the update window (phase says what waits: downloading or applying). */
  heldByWindow?: { nextOpening: string | null };
  /** The pending update waits for the data budget (../plan/data-budget.ts): why, and until when. */
  deferred?: { message: string; until: string };
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
  /** Where the services' update-lock directories are (the supervisor's data dir); without it, no locks. */
  lockRoot?: string;
  /** Disk facts for the images a plan would fetch; without it, no disk check. */
  diskFacts?: (missing: string[], current: CurrentState, target: TargetState) => Promise<DiskFacts | undefined>;
  /** The target's data budget and the bytes used of it this month; undefined: no budget. */
  budgetFacts?: (target: TargetState) => BudgetFacts | undefined;
  /** After a converged pass: removes images of releases before the one just replaced. */
  cleanup?: (current: CurrentState, target: TargetState) => Promise<void>;
  // --- image delivery and update window ---
  /** Delivers an image (ImageFetcher.fetch); without it the engine pulls. */
  fetchImage?: (image: string, signal?: AbortSignal) => Promise<void>;
  /**
   * The wall clock, read once per plan: that one time goes to the planner (hand-over timeouts) and judges the
   * update window, so the two never disagree. Tests inject one.
   */
  clock?: () => Date;
  /** Services stopped on purpose through the local API (held-services.ts), read at every plan. */
  held?: () => ReadonlySet<string>;
  /** The files releases carry (../images/release-files.ts); without it, a service that mounts some cannot run. */
  releaseFiles?: {
    readonly filesRoot: string;
    readonly stateRoot: string;
    ensure(target: TargetState, signal?: AbortSignal): Promise<void>;
  };
}

function summary(steps: Step[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of steps) counts[s.kind] = (counts[s.kind] ?? 0) + 1;
  return counts;
}

export class Reconciler {
  private target: TargetState | null = null;
  private status: ReconcileStatus = { phase: 'idle', error: null, waiting: [] };
  private readonly passes = new PassLoop(() => this.runPass());
  private readonly listeners = new Set<(status: ReconcileStatus) => void>();
  private failures = 0;
  private readonly maxIterations: number;
  private readonly resyncIntervalMs: number;
  private readonly dependencyRecheckMs: number;
  private readonly retry: BackoffPolicy;
  private readonly clock: () => Date;

  constructor(private readonly options: ReconcilerOptions) {
    this.clock = options.clock ?? (() => new Date());
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

  /**
   * Takes a target that already passed acceptTarget; the running pass picks it up at its next iteration. A target
   * that differs from the one held makes the status pending at once, in the same turn, so whoever reads target and
   * status together never pairs the new target with the verdict on the old one.
   */
  setTarget(target: TargetState): void {
    const changed = canonicalJson(target) !== canonicalJson(this.target);
    this.target = target;
    this.failures = 0;
    if (changed) this.setStatus({ phase: 'pending', error: null, waiting: [] });
    this.passes.wake();
  }

  /** Asks for a pass now (e.g. after the engine restarted). */
  resync(): void {
    this.passes.wake();
  }

  onStatus(listener: (status: ReconcileStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    this.passes.start();
  }

  /** Ends the loop after the step in flight; containers keep running. */
  stop(): Promise<void> {
    return this.passes.stop();
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
    let planned: TargetState = this.target;
    // A verdict reached on a target that was replaced meanwhile is not published: the new one is planned instead.
    const replaced = (): boolean => planned !== this.target;
    try {
      for (let iteration = 1; iteration <= this.maxIterations; iteration++) {
        if (this.passes.stopped) return 0;
        // Re-read every iteration: a target that arrived during the last apply wins from here on.
        const target = this.target;
        planned = target;
        const current = await readCurrentState(engine, imagesOf(target));
        const now = this.clock();
        const { steps, waiting, locked, handingOver, error, deferred } = planUpdate(
          current,
          target,
          await this.context(current, target, now),
        );
        if (error !== null) throw new Error(error);
        if (replaced()) continue;
        if (deferred !== undefined) {
          this.failures = 0;
          log.info(
            { release: target.release?.id ?? null, until: deferred.until },
            'update deferred by the data budget',
          );
          this.setStatus({
            phase: 'downloading',
            error: null,
            waiting: [],
            deferred: { message: deferred.message, until: deferred.until.toISOString() },
          });
          // Looked at again as the month turns, or sooner (a new target or budget wakes the loop).
          return Math.min(this.resyncIntervalMs, Math.max(1_000, deferred.until.getTime() - now.getTime()));
        }
        if (steps.length === 0) {
          log.debug({ iteration }, 'nothing to do');
          this.failures = 0;
          if (waiting.length > 0 || locked.length > 0 || handingOver.length > 0) {
            if (locked.length > 0) log.info({ locked }, 'update held back by update locks');
            this.setStatus({ phase: 'applying', error: null, waiting, ...(locked.length > 0 ? { locked } : {}) });
            return this.dependencyRecheckMs;
          }
          await this.options.cleanup?.(current, target);
          if (replaced()) continue;
          this.setStatus({ phase: 'converged', error: null, waiting: [] });
          return this.resyncIntervalMs;
        }
        const downloading = steps.some((s) => s.kind === 'fetchImage');
        // --- update window gate: outside the window nothing is applied, and nothing is downloaded
        // unless downloadOutsideWindow; a download the window allowed is aborted when the window closes.
        const window = updateWindowState(target.config, now);
        const allowed = stepsAllowed(steps, window);
        if (allowed.length === 0) {
          this.setStatus({
            phase: downloading ? 'downloading' : 'applying',
            error: null,
            waiting: [],
            heldByWindow: { nextOpening: window.nextOpening?.toISOString() ?? null },
          });
          return Math.min(this.resyncIntervalMs, msUntilChange(window, now) ?? this.resyncIntervalMs);
        }
        const closesInMs =
          (window.phase === 'open' || window.phase === 'forced') && window.closesAt !== null
            ? window.closesAt.getTime() - now.getTime()
            : null;
        const signal = closesInMs === null ? undefined : AbortSignal.timeout(Math.max(1, closesInMs));
        // --- end of the window gate
        this.setStatus({ phase: downloading ? 'downloading' : 'applying', error: null, waiting: [] });
        log.info({ release: target.release?.id ?? null, iteration, steps: summary(allowed) }, 'applying plan');
        // The files containers bind must be there before they are created: fetched like images, in the window.
        await this.options.releaseFiles?.ensure(target, signal);
        await execute(allowed, {
          engine,
          log,
          lockRoot: this.options.lockRoot,
          overrideLocks: target.config.overrideLocks === true,
          fetchImage: this.options.fetchImage,
          signal,
        });
      }
      throw new Error(`target did not converge after ${this.maxIterations} plans`);
    } catch (err) {
      if (replaced() && !this.passes.stopped) {
        log.info(
          { err: messageOf(err), release: planned.release?.id ?? null },
          'pass on a replaced target failed; planning the new one',
        );
        return 0;
      }
      this.failures++;
      const delay = backoffDelay(this.failures, this.retry);
      log.error(
        {
          err: messageOf(err),
          step: err instanceof StepError ? err.step.kind : undefined,
          attempt: this.failures,
          retryInMs: delay,
        },
        'reconcile failed',
      );
      this.setStatus({ phase: 'error', error: messageOf(err), waiting: [] });
      return delay;
    }
  }

  /** What besides the engine the planner needs: locks and hand-over files on disk, disk space, the pass's time. */
  private async context(current: CurrentState, target: TargetState, now: Date): Promise<PlanContext> {
    const { lockRoot } = this.options;
    const services = [
      ...new Set([
        ...target.services.map((s) => s.name),
        ...current.containers.flatMap((c) => (c.service === null ? [] : [c.service])),
      ]),
    ];
    const handovers = new Map<string, Date>();
    if (lockRoot !== undefined) {
      for (const service of services) {
        const at = await handoverWrittenAt(lockRoot, service);
        if (at !== null) handovers.set(service, at);
      }
    }
    const present = new Set(current.images);
    const missing = imagesOf(target).filter((i) => !present.has(i));
    return {
      locks: lockRoot === undefined ? new Set() : await heldLocks(lockRoot, services),
      handovers,
      now,
      disk: missing.length === 0 ? undefined : await this.options.diskFacts?.(missing, current, target),
      host: {
        ...(lockRoot === undefined ? {} : { lockRoot }),
        ...(this.options.releaseFiles === undefined
          ? {}
          : { filesRoot: this.options.releaseFiles.filesRoot, stateRoot: this.options.releaseFiles.stateRoot }),
      },
      held: this.options.held?.(),
      budget: missing.length === 0 ? undefined : this.options.budgetFacts?.(target),
    };
  }

  private setStatus(status: ReconcileStatus): void {
    if (canonicalJson(status) === canonicalJson(this.status)) return;
    this.status = status;
    this.options.log.info(
      { phase: status.phase, error: status.error, waiting: status.waiting.length || undefined },
      'status',
    );
    for (const listener of this.listeners) listener(status);
  }
}

// Skiff's reconciler in-process, timed from "target accepted" (setTarget) to "plan empty" (a pass ends converged):
// process start-up, polling and reporting are not part of the figure, only reading, planning and applying.
import type { TargetState } from '../../protocol/target-state.js';
import type { Engine } from '../../supervisor/engine/engine.js';
import { Reconciler } from '../../supervisor/reconcile/reconciler.js';
import type { Logger } from '../../lib/logger.js';
import { elapsedMs } from './stats.js';

/** More passes than this for a release without dependencies means something is wrong, not slow. */
const MAX_PASSES = 10;

export class TimedReconciler {
  private readonly reconciler: Reconciler;

  constructor(engine: Engine, log: Logger) {
    // Fast retries: a failed step must show up as a failure of the bench, not as a 2 s backoff in a figure.
    this.reconciler = new Reconciler({ engine, log, retry: { initialMs: 50, maxMs: 500 } });
  }

  /** Milliseconds from accepting `target` until a pass ends with nothing left to do. */
  async converge(target: TargetState): Promise<number> {
    const started = performance.now();
    this.reconciler.setTarget(target);
    for (let pass = 1; pass <= MAX_PASSES; pass++) {
      await this.reconciler.runPass();
      const status = this.reconciler.currentStatus();
      if (status.phase === 'converged') return elapsedMs(started);
      if (status.phase === 'error')
        throw new Error(`skiff failed to converge release ${target.release?.id ?? '?'}: ${status.error ?? ''}`);
    }
    throw new Error(
      `skiff did not converge release ${target.release?.id ?? '?'} in ${MAX_PASSES} passes: ${JSON.stringify(this.reconciler.currentStatus())}`,
    );
  }
}

// The loop that moves rollouts on: every tick it reads the running rollouts from the store and steps each
// (rollouts.ts advanceRollout), so it is level-triggered (nothing is remembered between ticks; a restarted API
// carries on where the database says) and safe beside other API instances over the same database (a step applies
// only at the revision it was decided on). Ticks never overlap; stop() waits for the one in progress.
import type { Logger } from '../../lib/logger.js';
import { advanceRollout, type RolloutDeps } from './rollouts.js';

/** How often rollouts are judged by default: devices report within seconds, a rollout's deadlines are minutes. */
export const DEFAULT_ROLLOUT_TICK_MS = 5_000;

export interface RolloutDriverOptions extends RolloutDeps {
  tickMs?: number;
}

export class RolloutDriver {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly tickMs: number;
  private readonly logger: Logger;

  constructor(private readonly deps: RolloutDriverOptions) {
    this.tickMs = deps.tickMs ?? DEFAULT_ROLLOUT_TICK_MS;
    this.logger = deps.logger;
  }

  start(): this {
    this.schedule();
    return this;
  }

  /** Steps every running rollout once; a failure of one is logged and the others still step. */
  async tick(): Promise<void> {
    const running = await this.deps.store.rollouts.inState(['running']);
    for (const rollout of running) {
      if (this.stopped) return;
      try {
        await advanceRollout(this.deps, rollout);
      } catch (err) {
        this.logger.warn(
          { err, fleet: rollout.fleet, rollout: rollout.id },
          'cannot step the rollout; trying again next tick',
        );
      }
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .catch((err: unknown) => this.logger.warn({ err }, 'cannot read the running rollouts; trying again next tick'))
        .finally(() => {
          this.running = null;
          this.schedule();
        });
    }, this.tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.running;
  }
}

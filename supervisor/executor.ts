// Applies a plan through the engine: phases in order, the steps of one phase in parallel. A phase that fails stops
// the plan (nothing is started after a failed removal); the reconciler re-reads the engine and plans again.
import type { Logger } from '../lib/logger.js';
import { messageOf } from '../lib/errors.js';
import type { Engine } from './engine.js';
import { describeStep, type Step, type StepKind } from './planner.js';

/**
 * Prepare, then make room, then start: a new container never meets the old one's ports or name. A Record so
 * that a new step kind does not compile until it has a phase.
 */
const PHASE_OF: Record<StepKind, number> = {
  fetchImage: 0,
  createNetwork: 0,
  createVolume: 0,
  stopContainer: 1,
  removeContainer: 2,
  removeNetwork: 3,
  startService: 4,
  startContainer: 4,
};
const PHASE_COUNT = Math.max(...Object.values(PHASE_OF)) + 1;

export class StepError extends Error {
  constructor(readonly step: Step, cause: unknown) {
    super(`${describeStep(step)} failed: ${messageOf(cause)}`, { cause });
    this.name = 'StepError';
  }
}

async function apply(step: Step, engine: Engine): Promise<void> {
  switch (step.kind) {
    case 'fetchImage': return engine.pullImage(step.image);
    case 'createNetwork': return engine.createNetwork(step.network.name, step.network.labels);
    case 'createVolume': return engine.createVolume(step.volume.name, step.volume.labels);
    case 'stopContainer': return engine.stopContainer(step.containerId, step.timeoutSeconds);
    case 'removeContainer': return engine.removeContainer(step.containerId);
    case 'removeNetwork': return engine.removeNetwork(step.networkId);
    case 'startService': {
      const id = await engine.createContainer(step.container.name, step.container.options);
      return engine.startContainer(id);
    }
    case 'startContainer': return engine.startContainer(step.containerId);
  }
}

async function applyLogged(step: Step, engine: Engine, log: Logger): Promise<void> {
  const started = Date.now();
  try {
    await apply(step, engine);
  } catch (err) {
    throw new StepError(step, err);
  }
  log.info({ step: step.kind, ms: Date.now() - started }, describeStep(step));
}

export async function execute(steps: Step[], engine: Engine, log: Logger): Promise<void> {
  for (let phase = 0; phase < PHASE_COUNT; phase++) {
    const inPhase = steps.filter((s) => PHASE_OF[s.kind] === phase);
    if (inPhase.length === 0) continue;
    // Settle every step of the phase before failing, so no engine call is left running unobserved.
    const results = await Promise.allSettled(inPhase.map((s) => applyLogged(s, engine, log)));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    for (const failure of failures.slice(1)) log.error({ err: messageOf(failure) }, 'step failed');
    if (failures.length > 0) throw failures[0];
  }
}

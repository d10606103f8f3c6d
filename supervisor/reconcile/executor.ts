// Applies a plan through the engine: phases in order, the steps of one phase in parallel. A phase that fails stops
// the plan (nothing is started after a failed removal); the reconciler re-reads the engine and plans again.
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import type { DesiredContainer } from '../plan/container-config.js';
import type { Engine } from '../engine/engine.js';
import { killPoint } from './kill-point.js';
import { resolveLocalImage } from '../images/local-image.js';
import { describeStep, type Step, type StepKind } from '../plan/planner.js';
import { ensureLockDir, withUpdateLock } from './update-lock.js';

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
  // After the removal of the container that used it (delete-then-download); a plan that removes images to make
  // room for a fetch holds nothing else, the fetch comes in the next plan.
  removeImage: 3,
  removeNetwork: 3,
  startService: 4,
  startContainer: 4,
  createService: 4,
};
const PHASE_COUNT = Math.max(...Object.values(PHASE_OF)) + 1;

export class StepError extends Error {
  constructor(
    readonly step: Step,
    cause: unknown,
  ) {
    super(`${describeStep(step)} failed: ${messageOf(cause)}`, { cause });
    this.name = 'StepError';
  }
}

export interface ExecutionContext {
  engine: Engine;
  log: Logger;
  /** Where the services' update-lock directories are; without it, stops take no lock. */
  lockRoot?: string;
  /** config.overrideLocks: a lock a service holds does not stop its container from being stopped. */
  overrideLocks?: boolean;
  // --- image delivery: Skiff's own downloader instead of engine.pullImage; aborts when the window closes.
  fetchImage?: (image: string, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
}

async function apply(step: Step, context: ExecutionContext): Promise<void> {
  const { engine, lockRoot } = context;
  switch (step.kind) {
    // One call, so that a fetcher with deltas and bandwidth caps can take the engine's place here.
    case 'fetchImage':
      return context.fetchImage !== undefined
        ? context.fetchImage(step.image, context.signal)
        : engine.pullImage(step.image);
    case 'createNetwork':
      return engine.createNetwork(step.network.name, step.network.labels, step.network.network);
    case 'createVolume':
      return engine.createVolume(step.volume.name, step.volume.labels, step.volume.volume);
    case 'stopContainer': {
      const stop = (): Promise<void> => engine.stopContainer(step.containerId, step.timeoutSeconds);
      if (lockRoot === undefined || step.service === null) return stop();
      return withUpdateLock(lockRoot, step.service, context.overrideLocks === true, stop);
    }
    case 'removeContainer':
      return engine.removeContainer(step.containerId);
    case 'removeImage': {
      // 'in-use' is fine: another container (not Skiff's) still needs it; the disk check measures again anyway.
      await engine.removeImage(step.image);
      return;
    }
    case 'removeNetwork':
      return engine.removeNetwork(step.networkId);
    case 'startService':
      return engine.startContainer(await createServiceContainer(step.container, context));
    case 'createService': {
      await createServiceContainer(step.container, context);
      return;
    }
    case 'startContainer':
      return engine.startContainer(step.containerId);
  }
}

async function createServiceContainer(
  container: DesiredContainer,
  { engine, lockRoot }: ExecutionContext,
): Promise<string> {
  if (lockRoot !== undefined) await ensureLockDir(lockRoot, container.service);
  // A loaded image answers to its local tag, not to the digest reference (../images/local-image.ts).
  const image = container.options.Image;
  const local = image === undefined ? undefined : await resolveLocalImage(engine, image);
  return engine.createContainer(container.name, { ...container.options, Image: local ?? image });
}

async function applyLogged(step: Step, context: ExecutionContext): Promise<void> {
  // A duration, not a time of day: the monotonic clock, which a wall-clock step (NTP setting a Pi's clock after
  // boot) cannot bend. The pass's wall clock (reconciler.ts) is for what the planner and the window judge.
  const started = performance.now();
  killPoint(`before ${describeStep(step)}`);
  try {
    await apply(step, context);
  } catch (err) {
    throw new StepError(step, err);
  }
  killPoint(`after ${describeStep(step)}`);
  context.log.info({ step: step.kind, ms: Math.round(performance.now() - started) }, describeStep(step));
}

export async function execute(steps: Step[], context: ExecutionContext): Promise<void> {
  for (let phase = 0; phase < PHASE_COUNT; phase++) {
    const inPhase = steps.filter((s) => PHASE_OF[s.kind] === phase);
    if (inPhase.length === 0) continue;
    // Settle every step of the phase before failing, so no engine call is left running unobserved.
    const results = await Promise.allSettled(inPhase.map((s) => applyLogged(s, context)));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    for (const failure of failures.slice(1)) context.log.error({ err: messageOf(failure) }, 'step failed');
    if (failures.length > 0) throw failures[0];
  }
}

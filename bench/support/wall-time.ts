// Wall time to converge the fixture release from nothing and to replace one service, for three ways of doing it:
// the raw engine floor, docker-compose, and Skiff's reconciler. Rounds interleave the three (in a rotating order)
// so a noisy neighbour on the machine slows all of them alike; the first round warms the engine and is not kept.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { EngineClient } from '../../supervisor/engine/client.js';
import { containersLabelled } from '../../harness/supervisor-device.js';
import type { TargetState } from '../../protocol/target-state.js';
import { DockerEngine } from '../../supervisor/engine/engine.js';
import type { Logger } from '../../lib/logger.js';
import { composeUp } from './compose.js';
import { emptyDevice, runsExactly, waitFor } from './device.js';
import { floorReplace, floorUp } from './floor.js';
import { TimedReconciler } from './skiff.js';
import { elapsedMs, median, sleep } from './stats.js';
import { TimedEngine, type EngineCall } from './timed-engine.js';

export type Method = 'floor' | 'compose' | 'skiff';

export interface Timing {
  upMs: number;
  updateMs: number;
}

export interface WallTimeFigures {
  /** Kept runs, in round order: index i of every method is the same round. */
  runs: Record<Method, Timing[]>;
  medians: Record<Method, Timing>;
}

/**
 * Median over rounds of method/baseline within the round: a slow phase of the machine that spans a round cancels
 * out. Shown beside the ratio of medians as a check on noise.
 */
export function pairedRatio(figures: WallTimeFigures, method: Method, baseline: Method, of: keyof Timing): number {
  const base = figures.runs[baseline];
  return median(figures.runs[method].map((t, i) => t[of] / (base[i]?.[of] ?? Number.NaN)));
}

export interface WallTimeOptions {
  docker: EngineClient;
  dockerHost: string;
  log: Logger;
  first: TargetState;
  next: TargetState;
  runs: number;
  /** docker-compose is a reference, not the goal's baseline: without it the bench still runs. */
  withCompose: boolean;
  progress: (line: string) => void;
}

/**
 * Pause between "up" and "update", untimed: the fixture's shell must have installed its SIGTERM trap before it is
 * stopped (a PID 1 without a handler ignores SIGTERM and would sit out the whole stop timeout).
 */
const SETTLE_BEFORE_UPDATE_MS = 500;
/** Pause after emptying the engine: its asynchronous clean-up (netns, iptables) must not land in the next run. */
const SETTLE_AFTER_CLEAN_MS = 300;

async function floorRun(options: WallTimeOptions): Promise<Timing> {
  const { docker, first, next } = options;
  let started = performance.now();
  const ids = await floorUp(docker, first);
  const upMs = elapsedMs(started);
  await sleep(SETTLE_BEFORE_UPDATE_MS);
  started = performance.now();
  await floorReplace(docker, next, 'meter', ids.get('meter') ?? '');
  return { upMs, updateMs: elapsedMs(started) };
}

async function composeRun(options: WallTimeOptions): Promise<Timing> {
  const { first, next, dockerHost } = options;
  const dir = await mkdtemp(path.join(tmpdir(), 'skiff-bench-compose-'));
  try {
    let started = performance.now();
    await composeUp(dir, first, dockerHost);
    const upMs = elapsedMs(started);
    await sleep(SETTLE_BEFORE_UPDATE_MS);
    started = performance.now();
    await composeUp(dir, next, dockerHost);
    return { upMs, updateMs: elapsedMs(started) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function skiffRun(options: WallTimeOptions): Promise<Timing> {
  const reconciler = new TimedReconciler(new DockerEngine(options.docker, options.log), options.log);
  const upMs = await reconciler.converge(options.first);
  await sleep(SETTLE_BEFORE_UPDATE_MS);
  const updateMs = await reconciler.converge(options.next);
  return { upMs, updateMs };
}

const RUNNERS: Record<Method, (options: WallTimeOptions) => Promise<Timing>> = {
  floor: floorRun,
  compose: composeRun,
  skiff: skiffRun,
};

/** Checks a baseline really did the work it was timed for: floor and Skiff leave Skiff's containers behind. */
async function verify(method: Method, options: WallTimeOptions): Promise<void> {
  const { docker, next } = options;
  if (method === 'compose') {
    const containers = await containersLabelled(docker, 'com.docker.compose.project');
    const meter = containers.find((c) => c.Labels['com.docker.compose.service'] === 'meter');
    const ok =
      containers.length === next.services.length &&
      containers.every((c) => c.State === 'running') &&
      meter?.Image === next.services.find((s) => s.name === 'meter')?.image;
    if (!ok)
      throw new Error(`docker-compose left ${JSON.stringify(containers.map((c) => [c.Names, c.State, c.Image]))}`);
    return;
  }
  await waitFor(`${method} to run release ${next.release?.id ?? ''}`, 1_000, () => runsExactly(docker, next));
}

export async function measureWallTime(options: WallTimeOptions): Promise<WallTimeFigures> {
  const methods: Method[] = options.withCompose ? ['floor', 'compose', 'skiff'] : ['floor', 'skiff'];
  const runs: Record<Method, Timing[]> = { floor: [], compose: [], skiff: [] };
  for (let round = 0; round <= options.runs; round++) {
    const order = methods.map((_, i) => methods[(i + round) % methods.length] as Method);
    const line: string[] = [];
    for (const method of order) {
      await emptyDevice(options.docker);
      await sleep(SETTLE_AFTER_CLEAN_MS);
      const timing = await RUNNERS[method](options);
      await verify(method, options);
      if (round > 0) runs[method].push(timing);
      line.push(`${method} ${timing.upMs.toFixed(0)}/${timing.updateMs.toFixed(0)}`);
    }
    options.progress(
      `${round === 0 ? 'warm-up' : `round ${round}/${options.runs}`}: ${line.join(', ')} ms (up/update)`,
    );
  }
  await emptyDevice(options.docker);
  const medianOf = (list: Timing[]): Timing =>
    list.length === 0
      ? { upMs: Number.NaN, updateMs: Number.NaN }
      : { upMs: median(list.map((t) => t.upMs)), updateMs: median(list.map((t) => t.updateMs)) };
  return {
    runs,
    medians: { floor: medianOf(runs.floor), compose: medianOf(runs.compose), skiff: medianOf(runs.skiff) },
  };
}

export interface SkiffProfile {
  up: { ms: number; calls: EngineCall[] };
  update: { ms: number; calls: EngineCall[] };
}

/** One more Skiff run with every engine call recorded: where the time between "accepted" and "converged" goes. */
export async function profileSkiff(options: WallTimeOptions): Promise<SkiffProfile> {
  await emptyDevice(options.docker);
  await sleep(SETTLE_AFTER_CLEAN_MS);
  const engine = new TimedEngine(new DockerEngine(options.docker, options.log));
  const reconciler = new TimedReconciler(engine, options.log);
  engine.reset();
  const upMs = await reconciler.converge(options.first);
  const upCalls = engine.recorded();
  await sleep(SETTLE_BEFORE_UPDATE_MS);
  engine.reset();
  const updateMs = await reconciler.converge(options.next);
  const updateCalls = engine.recorded();
  await emptyDevice(options.docker);
  return { up: { ms: upMs, calls: upCalls }, update: { ms: updateMs, calls: updateCalls } };
}

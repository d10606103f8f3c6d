// bench/supervisor: is Skiff's supervisor cheap enough to trust on a 512 MB Raspberry Pi Zero 2 W, and does it
// converge as fast as the engine allows? All baselines run in this same process and run, so the goals are ratios,
// not absolute times or sizes (shared, noisy machines):
//   1. the supervisor run as `make demo` runs it (online against the real API, push channel, metric reports, log
//      shipping; bench/support/memory.ts): RSS fresh, after --releases N updates (20; image deltas included, a log
//      follow during them) and after an idle soak of --soak-minutes (30, or SKIFF_BENCH_SOAK_MINUTES), each over a
//      bare idle Node process sampled in the same instants. Goals: at most 1.5x bare Node at the end, and no growth
//      over the soak (RSS after a full GC, end / start, at most 1.05: the noise of two samples);
//   2. wall time to converge a 3-service release with images present, and to replace one service, Skiff's
//      reconciler / the raw engine floor (goal <= 1.2 each); docker-compose is shown as a reference. --memory-only
//      leaves this part out.
// Readable lines on stdout, then exactly one JSON line. Needs the test environment (bash scripts/env.sh up test,
// or SKIFF_ENV_FILE); it empties the device engine of managed containers, so it must not run beside the
// integration tests. SKIFF_BENCH_RUNS sets the timed rounds (7).
import { createLogger } from '../lib/logger.js';
import { messageOf } from '../lib/errors.js';
import { loadBenchEnv, type BenchEnv } from './support/env.js';
import { deviceDocker } from '../harness/supervisor-device.js';
import { composeVersion } from './support/compose.js';
import { prepareImages, targetPair } from './support/fixture.js';
import { measureMemory, type RssPair } from './support/memory.js';
import { parseArgs } from 'node:util';
import type { Logger } from '../lib/logger.js';
import type { EngineClient } from '../supervisor/engine/client.js';
import { mb, median, ratio, round } from './support/stats.js';
import type { EngineCall } from './support/timed-engine.js';
import { measureWallTime, pairedRatio, profileSkiff, type Method, type Timing } from './support/wall-time.js';
import { positiveNumber } from './support/settings.js';
import { say } from './support/say.js';

const GOALS = {
  rss_ratio: 1.5,
  rss_growth: 1.05,
  up_ratio: 1.2,
  update_ratio: 1.2,
} as const;

function printCalls(title: string, ms: number, calls: EngineCall[]): void {
  say(`  ${title}: ${ms.toFixed(0)} ms, ${calls.length} engine calls`);
  for (const c of calls)
    say(`    +${c.startMs.toFixed(0).padStart(5)} ms ${c.ms.toFixed(0).padStart(5)} ms  ${c.call}`);
}

interface WallFigures {
  figures: Record<string, number | null>;
  met: boolean;
}

async function wallTime(env: BenchEnv, docker: EngineClient, log: Logger, runs: number): Promise<WallFigures> {
  const compose = await composeVersion();
  say(
    compose === null
      ? 'docker-compose not found: its reference figures are left out (apt-get install docker-compose)'
      : `docker-compose ${compose}`,
  );
  const images = await prepareImages(env, log);
  say('fixture images built, pushed and present on the device engine');
  const { first, next } = targetPair(images);

  say('-- wall time: 3-service release up, then replace one service');
  const wallOptions = {
    docker,
    dockerHost: env.deviceDockerHost,
    log,
    first,
    next,
    runs,
    withCompose: compose !== null,
    progress: (line: string) => say(`  ${line}`),
  };
  const wall = await measureWallTime(wallOptions);
  const { floor, skiff } = wall.medians;
  const composeMedian = compose === null ? null : wall.medians.compose;
  const spread = (method: Method, of: keyof Timing): string => {
    const values = wall.runs[method].map((t) => t[of]);
    return `${round(median(values), 0)} ms (${round(Math.min(...values), 0)}-${round(Math.max(...values), 0)})`;
  };
  for (const method of (compose === null ? ['floor', 'skiff'] : ['floor', 'compose', 'skiff']) as Method[]) {
    say(`  ${method.padEnd(7)} up ${spread(method, 'upMs')}, update ${spread(method, 'updateMs')}`);
  }
  const upRatio = ratio(skiff.upMs, floor.upMs);
  const updateRatio = ratio(skiff.updateMs, floor.updateMs);
  const upPaired = round(pairedRatio(wall, 'skiff', 'floor', 'upMs'), 3);
  const updatePaired = round(pairedRatio(wall, 'skiff', 'floor', 'updateMs'), 3);
  say(
    `  skiff / floor (ratio of medians): up ${upRatio}x, update ${updateRatio}x (goal <= ${GOALS.up_ratio}x); ` +
      `median of per-round ratios: up ${upPaired}x, update ${updatePaired}x`,
  );

  say('-- where skiff spends its time (one extra run, every engine call timed)');
  const profile = await profileSkiff(wallOptions);
  printCalls('up', profile.up.ms, profile.up.calls);
  printCalls('update', profile.update.ms, profile.update.calls);
  return {
    figures: {
      up_floor_ms: floor.upMs,
      up_compose_ms: composeMedian?.upMs ?? null,
      up_skiff_ms: skiff.upMs,
      update_floor_ms: floor.updateMs,
      update_compose_ms: composeMedian?.updateMs ?? null,
      update_skiff_ms: skiff.updateMs,
      up_ratio: upRatio,
      update_ratio: updateRatio,
      up_ratio_paired: upPaired,
      update_ratio_paired: updatePaired,
      up_compose_ratio: composeMedian === null ? null : ratio(composeMedian.upMs, floor.upMs),
      update_compose_ratio: composeMedian === null ? null : ratio(composeMedian.updateMs, floor.updateMs),
      runs,
    },
    met: upRatio <= GOALS.up_ratio && updateRatio <= GOALS.update_ratio,
  };
}

interface Flags {
  soakMinutes: number;
  releases: number;
  memoryOnly: boolean;
}

function flagsOf(): Flags {
  const { values } = parseArgs({
    options: {
      'soak-minutes': { type: 'string' },
      releases: { type: 'string' },
      'memory-only': { type: 'boolean' },
    },
    allowPositionals: false,
  });
  const number = (flag: string, given: string | undefined, fallback: number): number => {
    if (given === undefined) return fallback;
    const value = Number(given);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${flag} must be a positive number, got '${given}'`);
    return value;
  };
  return {
    soakMinutes: number('soak-minutes', values['soak-minutes'], positiveNumber('SKIFF_BENCH_SOAK_MINUTES', 30)),
    releases: Math.round(number('releases', values.releases, 20)),
    memoryOnly: values['memory-only'] === true,
  };
}

async function main(): Promise<void> {
  const { soakMinutes, releases, memoryOnly } = flagsOf();
  const runs = Math.round(positiveNumber('SKIFF_BENCH_RUNS', 7));
  const env = loadBenchEnv();
  const docker = deviceDocker(env);
  // Warnings and errors only: the reconciler's per-step info lines would bury the bench's own output.
  const log = createLogger('bench-supervisor');
  log.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';

  say(
    `bench supervisor: node ${process.version}, ${memoryOnly ? 'memory only' : `${runs} runs`}, ${releases} releases, ` +
      `soak ${soakMinutes} min, device engine ${env.deviceDockerHost}`,
  );
  const wall = memoryOnly ? null : await wallTime(env, docker, log, runs);

  say(
    `-- memory: the supervisor as make demo runs it, ${releases} releases, a log follow, then ${soakMinutes} min idle`,
  );
  const memory = await measureMemory(env, docker, {
    releases,
    soakMinutes,
    settleMs: 30_000,
    samples: 9,
    progress: (line) => say(`  ${line}`),
  });
  const freshRatio = ratio(memory.fresh.supervisor, memory.fresh.bare);
  const updatesRatio = ratio(memory.afterUpdates.supervisor, memory.afterUpdates.bare);
  const soakRatio = ratio(memory.afterSoak.supervisor, memory.afterSoak.bare);
  const { soakStart, soakEnd } = memory;
  const growth = ratio(soakEnd.rss, soakStart.rss);
  const line = (what: string, pair: RssPair, r: number): string =>
    `  ${what.padEnd(22)} supervisor ${mb(pair.supervisor)} MB, bare node ${mb(pair.bare)} MB: ${r}x`;
  say(
    `  the supervisor's allocator: ${memory.allocator}` +
      (memory.allocator === 'glibc' ? " (libjemalloc.so.2 was not loaded: install Debian's libjemalloc2)" : ''),
  );
  say(line('fresh', memory.fresh, freshRatio));
  say(line(`after ${memory.releases} updates`, memory.afterUpdates, updatesRatio));
  say(
    `${line(`after ${round(memory.soakSeconds / 60, 1)} min idle`, memory.afterSoak, soakRatio)} (goal <= ${GOALS.rss_ratio}x)`,
  );
  say(
    `  soak growth after a full GC: RSS ${mb(soakStart.rss)} -> ${mb(soakEnd.rss)} MB: ${growth}x (goal <= ${GOALS.rss_growth}x; ` +
      `at the end ${mb(soakEnd.anon)} MB anonymous, ${mb(soakEnd.file)} MB mapped files); ` +
      `JS heap used ${mb(soakStart.heapUsed)} -> ${mb(soakEnd.heapUsed)} MB (of ${mb(soakStart.heapTotal)} -> ${mb(soakEnd.heapTotal)} MB), external ${mb(soakStart.external)} -> ${mb(soakEnd.external)} MB`,
  );
  say(
    `  app image delivered ${memory.appDeliveries} times, ${memory.deltaDeliveries} of them by patches; ` +
      `the log follow printed ${memory.followLines} lines`,
  );
  const memoryMet = soakRatio <= GOALS.rss_ratio && growth <= GOALS.rss_growth;

  const memoryFigures = {
    allocator: memory.allocator,
    rss_fresh_bare_mb: mb(memory.fresh.bare),
    rss_fresh_mb: mb(memory.fresh.supervisor),
    rss_fresh_ratio: freshRatio,
    releases: memory.releases,
    app_deliveries: memory.appDeliveries,
    delta_deliveries: memory.deltaDeliveries,
    log_follow_lines: memory.followLines,
    rss_updates_bare_mb: mb(memory.afterUpdates.bare),
    rss_updates_mb: mb(memory.afterUpdates.supervisor),
    rss_updates_ratio: updatesRatio,
    soak_minutes: round(memory.soakSeconds / 60, 1),
    rss_soak_bare_mb: mb(memory.afterSoak.bare),
    rss_soak_mb: mb(memory.afterSoak.supervisor),
    rss_ratio: soakRatio,
    rss_soak_start_gc_mb: mb(soakStart.rss),
    rss_soak_end_gc_mb: mb(soakEnd.rss),
    rss_growth: growth,
    heap_soak_start_mb: mb(soakStart.heapUsed),
    heap_soak_end_mb: mb(soakEnd.heapUsed),
    heap_total_soak_end_mb: mb(soakEnd.heapTotal),
    rss_anon_soak_end_mb: mb(soakEnd.anon),
    rss_file_soak_end_mb: mb(soakEnd.file),
  };
  const figures = wall === null ? memoryFigures : { ...memoryFigures, ...wall.figures };
  const met = memoryMet && (wall === null || wall.met);
  say(met ? 'all goals met' : 'goals NOT met');
  say(JSON.stringify({ bench: 'supervisor', figures, goals: GOALS, met }));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench supervisor failed: ${messageOf(err)}\n`);
  process.exit(1);
});

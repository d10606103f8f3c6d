// bench/supervisor: is Skiff's supervisor cheap enough to trust on a 1 GB Raspberry Pi, and does it converge as
// fast as the engine allows? All baselines run in this same process and run, so the goals are ratios, not absolute
// times (shared, noisy machines):
//   1. idle RSS of the real supervisor process / a bare idle Node process (goal <= 1.5), and its growth over a
//      soak that keeps cycling releases (goal <= 1.1; SKIFF_BENCH_SOAK_MINUTES, 2 by default, 60 for the real soak;
//      growth counts from a warmed-up process, after max(1 min, 10% of the soak) of releases);
//   2. wall time to converge a 3-service release with images present, and to replace one service, Skiff's
//      reconciler / the raw engine floor (goal <= 1.2 each); docker-compose is shown as a reference.
// Readable lines on stdout, then exactly one JSON line. Needs the test environment (bash scripts/env.sh up test,
// or SKIFF_ENV_FILE); it empties the device engine of managed containers, so it must not run beside the
// integration tests. SKIFF_BENCH_RUNS sets the timed rounds (7).
import { createLogger } from '../lib/logger.js';
import { messageOf } from '../lib/errors.js';
import { loadBenchEnv } from './support/env.js';
import { deviceDocker } from '../harness/supervisor-device.js';
import { composeVersion } from './support/compose.js';
import { prepareImages, targetPair } from './support/fixture.js';
import { measureMemory } from './support/memory.js';
import { mb, median, ratio, round } from './support/stats.js';
import type { EngineCall } from './support/timed-engine.js';
import { measureWallTime, pairedRatio, profileSkiff, type Method, type Timing } from './support/wall-time.js';
import { positiveNumber } from './support/settings.js';
import { say } from './support/say.js';

const GOALS = {
  rss_ratio: 1.5,
  rss_growth: 1.1,
  up_ratio: 1.2,
  update_ratio: 1.2,
} as const;

function printCalls(title: string, ms: number, calls: EngineCall[]): void {
  say(`  ${title}: ${ms.toFixed(0)} ms, ${calls.length} engine calls`);
  for (const c of calls)
    say(`    +${c.startMs.toFixed(0).padStart(5)} ms ${c.ms.toFixed(0).padStart(5)} ms  ${c.call}`);
}

async function main(): Promise<void> {
  const soakMinutes = positiveNumber('SKIFF_BENCH_SOAK_MINUTES', 2);
  const runs = Math.round(positiveNumber('SKIFF_BENCH_RUNS', 7));
  const env = loadBenchEnv();
  const docker = deviceDocker(env);
  // Warnings and errors only: the reconciler's per-step info lines would bury the bench's own output.
  const log = createLogger('bench-supervisor');
  log.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';

  say(
    `bench supervisor: node ${process.version}, ${runs} runs, soak ${soakMinutes} min, device engine ${env.deviceDockerHost}`,
  );
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

  say('-- memory: idle supervisor process against bare idle node, then a soak cycling releases');
  const memory = await measureMemory(env, docker, images, {
    soakMinutes,
    settleMs: 30_000,
    samples: 9,
    progress: (line) => say(`  ${line}`),
  });
  const rssRatio = ratio(memory.supervisorRssBytes, memory.bareRssBytes);
  const { soakCold, soakStart, soakEnd } = memory;
  const growth = ratio(soakEnd.rss, soakStart.rss);
  say(
    `  idle RSS: bare node ${mb(memory.bareRssBytes)} MB, supervisor ${mb(memory.supervisorRssBytes)} MB: ${rssRatio}x (goal <= ${GOALS.rss_ratio}x)`,
  );
  say(
    `  soak: ${memory.soakReleases} releases in ${Math.round(memory.soakSeconds)} s; after a full GC: RSS ${mb(soakStart.rss)} -> ` +
      `${mb(soakEnd.rss)} MB: ${growth}x (goal <= ${GOALS.rss_growth}x); JS heap used ${mb(soakStart.heapUsed)} -> ${mb(soakEnd.heapUsed)} MB, ` +
      `external ${mb(soakStart.external)} -> ${mb(soakEnd.external)} MB`,
  );
  say(`  (from the cold start, before warm-up: RSS ${mb(soakCold.rss)} MB, JS heap ${mb(soakCold.heapUsed)} MB)`);

  const figures = {
    rss_bare_mb: mb(memory.bareRssBytes),
    rss_supervisor_mb: mb(memory.supervisorRssBytes),
    rss_ratio: rssRatio,
    soak_minutes: round(memory.soakSeconds / 60, 1),
    soak_releases: memory.soakReleases,
    rss_soak_cold_mb: mb(soakCold.rss),
    rss_soak_start_mb: mb(soakStart.rss),
    rss_soak_end_mb: mb(soakEnd.rss),
    rss_growth: growth,
    heap_soak_cold_mb: mb(soakCold.heapUsed),
    heap_soak_start_mb: mb(soakStart.heapUsed),
    heap_soak_end_mb: mb(soakEnd.heapUsed),
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
  };
  const met =
    figures.rss_ratio <= GOALS.rss_ratio &&
    figures.rss_growth <= GOALS.rss_growth &&
    figures.up_ratio <= GOALS.up_ratio &&
    figures.update_ratio <= GOALS.update_ratio;
  say(met ? 'all goals met' : 'goals NOT met');
  say(JSON.stringify({ bench: 'supervisor', figures, goals: GOALS, met }));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench supervisor failed: ${messageOf(err)}\n`);
  process.exit(1);
});

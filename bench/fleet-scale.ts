// bench/fleet-scale: a whole fleet of simulated devices (harness/fleet-sim, the real device protocol) against
// registry-api as it runs in production, in processes of its own: one node on SQLite, then two nodes on PostgreSQL
// and Redis with the devices spread over both. Each device registers with its own key, polls every 15 minutes
// with jitter (time compressed by SKIFF_BENCH_TIME_SCALE), reports metrics hourly (compressed alike) and, as many
// as the machine's descriptor limit allows, holds its push channel. Measured: time to admit the fleet, p99 poll
// latency while the channels are open, API CPU per request, API RSS per device (growth over the empty API,
// divided by the devices); and the same load against bare Koa holding as many streams (the baseline).
// While it is measured, a 5% rollout of a second release runs (startRollout below).
// Needs a test environment (SKIFF_ENV_FILE, else .skiff/test): its registry, PostgreSQL and Redis.
// Readable lines on stdout, then exactly one JSON line. Environment: SKIFF_BENCH_DEVICES (100000),
// SKIFF_BENCH_TIME_SCALE (10: a 15-minute poll interval becomes 90 s), SKIFF_BENCH_SECONDS of measurement (60),
// SKIFF_BENCH_CHANNELS (as many as the descriptor limit allows, at most the devices), SKIFF_BENCH_SETUPS
// (sqlite,postgres), SKIFF_BENCH_CPU_PROF=DIR to profile the API process(es) into DIR.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { messageOf } from '../lib/errors.js';
import { ApiClient } from '../cli/api-client.js';
import type { Release } from '../protocol/api.js';
import type { Rollout } from '../protocol/rollouts.js';
import { FleetSimulator, type FleetCounts } from '../harness/fleet-sim/fleet-sim.js';
import { tinyMeterRelease } from '../harness/fleet-sim/release.js';
import { loadTestEnv } from '../harness/env.js';
import { scratchPostgresDatabase, type ScratchDatabase } from '../harness/postgres.js';
import { distRoot } from './support/env.js';
import { startPacedPolls } from './support/paced-polls.js';
import { medianRss } from './support/rss.js';
import { say } from './support/say.js';
import { startServer, type ServerProcess } from './support/server-process.js';
import { positiveInteger, positiveNumber } from './support/settings.js';
import { mb, round, sleep } from './support/stats.js';

/** Preloaded into the measured processes: SIGUSR2 runs a full GC, so RSS samples show what is retained. */
const GC_FLAGS = [
  '--expose-gc',
  `--import=${pathToFileURL(path.join(distRoot, 'bench', 'support', 'gc-on-signal.js')).href}`,
];

/** The median RSS of each process after a full GC in each: a sample between collections would count garbage. */
async function retainedRss(pids: readonly number[]): Promise<number[]> {
  for (const pid of pids) process.kill(pid, 'SIGUSR2');
  await sleep(1_500);
  return medianRss(pids, 5, 200);
}

const GOALS = { p99PollMs: 50, rssBytesPerDevice: 2048, admissionSeconds: 60 } as const;
/** What the goals are stated for; a smaller run's admission time is scaled up to it for comparison. */
const GOAL_DEVICES = 100_000;
const ADMIN_TOKEN = 'bench-fleet-scale-admin-token-0123456789';
const POLL_INTERVAL_S = 15 * 60;
const METRICS_INTERVAL_S = 60 * 60;
const JITTER = 0.2;
/** Descriptors each process keeps for everything but the channels (polls, reports, files, the database). */
const DESCRIPTOR_MARGIN = 2_500;

type SetupName = 'sqlite' | 'postgres';

interface SetupFigures {
  setup: string;
  nodes: number;
  devices: number;
  channels: number;
  admissionSeconds: number;
  admissionsPerSecond: number;
  pollsPerSecond: number;
  requestsPerSecond: number;
  p50PollMs: number;
  p99PollMs: number;
  cpuUsPerRequest: number;
  apiRssMb: number;
  apiRssBeforeMb: number;
  rssBytesPerDevice: number;
  /** Growth per device that only polls and reports, and per device that also holds a push channel. */
  rssBytesPerPollingDevice: number | null;
  rssBytesPerChannelDevice: number | null;
  failures: number;
  refusedTargets: number;
  rollout: string;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** The soft limit of open descriptors of this process (children inherit it). */
function descriptorLimit(): number {
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return match === null || match[1] === 'unlimited' ? 1_000_000 : Number(match[1]);
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

const ROLLOUT_PERCENT = 5;

/** Creates a release of the bench's tiny meter compose and waits until the API verified it ready. */
async function readyRelease(admin: ApiClient, fleet: string, registry: string, tag: string): Promise<Release> {
  const created = await admin.createRelease(fleet, {
    compose: await tinyMeterRelease(registry, fleet, tag),
    images: {},
  });
  let release = created;
  for (const deadline = Date.now() + 120_000; release.status === 'pending' && Date.now() < deadline; ) {
    await sleep(200);
    release = await admin.getRelease(fleet, created.id);
  }
  if (release.status !== 'ready') throw new Error(`release ${created.version} is ${release.status}, not ready`);
  return release;
}

/**
 * The rollout that runs while the fleet is measured: `release` to 5% of the fleet in one phase, every device of it
 * at once. Its driver's reads and the assigned devices' new targets ride on the same API nodes as the polls.
 */
async function startRollout(admin: ApiClient, fleet: string, release: Release): Promise<Rollout> {
  return admin.createRollout(fleet, {
    release: release.id,
    phases: [{ percent: ROLLOUT_PERCENT }],
    deadlineSeconds: 3_600,
  });
}

/** Where the rollout stands at the end of the measurement, in one line. */
async function rolloutSummary(admin: ApiClient, fleet: string, id: string): Promise<string> {
  const rollout = await admin.getRollout(id, fleet);
  const phase = rollout.phases[0];
  if (phase === undefined) return `rollout ${id}: ${rollout.state}, no phase`;
  const c = phase.counts;
  return (
    `${ROLLOUT_PERCENT}% rollout ${rollout.state}: ${c.devices} devices, ${c.assigned} assigned, ${c.updated} updated, ` +
    `${c.healthy} healthy, ${c.failed} failed`
  );
}

async function startApiNodes(
  setup: SetupName,
  work: string,
  channelsPerNode: number,
  profileDir: string | null,
): Promise<{ nodes: ServerProcess[]; cleanup: () => Promise<void> }> {
  const env = loadTestEnv();
  const keyFile = path.join(work, `signing-key-${setup}.pem`);
  // Every node signs with the same key, as a deployment's instances do.
  await writeFile(
    keyFile,
    generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    { mode: 0o600 },
  );
  let database: ScratchDatabase | null = null;
  const count = setup === 'sqlite' ? 1 : 2;
  if (setup === 'postgres') database = await scratchPostgresDatabase('skiff_bench');
  const nodes: ServerProcess[] = [];
  const prefix = `skiff-bench-${path.basename(work).replace(/[^A-Za-z0-9]/g, '')}`;
  try {
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      nodes.push(
        await startServer({
          name: `registry-api ${setup} node ${i + 1}`,
          args: [path.join(distRoot, 'registry-api', 'main.js')],
          env: {
            SKIFF_DATA_DIR: path.join(work, `api-${setup}-${i}`),
            SKIFF_API_PORT: String(port),
            SKIFF_ADMIN_TOKEN: ADMIN_TOKEN,
            SKIFF_SIGNING_KEY_FILE: keyFile,
            SKIFF_MAX_PUSH_CHANNELS: String(channelsPerNode + 100),
            SKIFF_LOG_LEVEL: 'warn',
            SKIFF_REDIS_URL: setup === 'sqlite' ? '' : env.redisUrl,
            SKIFF_REDIS_PREFIX: prefix,
            ...(database === null ? {} : { SKIFF_DATABASE_URL: database.url }),
          },
          port,
          readyPath: '/v1/info',
          nodeFlags: [...GC_FLAGS, ...(profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`])],
        }),
      );
    }
  } catch (err) {
    for (const node of nodes) await node.stop();
    await database?.drop();
    throw err;
  }
  return {
    nodes,
    cleanup: async () => {
      for (const node of nodes) await node.stop();
      await database?.drop();
    },
  };
}

interface RunSettings {
  devices: number;
  channels: number;
  pollIntervalMs: number;
  metricsIntervalMs: number;
  measureSeconds: number;
}

async function cpuOf(nodes: readonly ServerProcess[]): Promise<number> {
  let total = 0;
  for (const node of nodes) total += await node.cpuSeconds();
  return total;
}

async function runSetup(setup: SetupName, work: string, s: RunSettings, profileDir: string | null) {
  const nodeCount = setup === 'sqlite' ? 1 : 2;
  const { nodes, cleanup } = await startApiNodes(setup, work, Math.ceil(s.channels / nodeCount), profileDir);
  const sims: FleetSimulator[] = [];
  try {
    const urls = nodes.map((n) => n.url);
    const admin = new ApiClient({ baseUrl: urls[0] ?? '', token: ADMIN_TOKEN });
    const signingKey = (await admin.info()).signingKey;
    const fleet = await admin.createFleet({ name: 'bench-fleet', deviceType: 'generic-amd64' });
    const registry = loadTestEnv().registry;
    const release = await readyRelease(admin, fleet.name, registry, `${setup}-1`);
    // The rollout's release, ready before the fleet arrives: making it is not part of what is measured. The fleet
    // stays pinned to the first; only the rollout moves devices on.
    const next = await readyRelease(admin, fleet.name, registry, `${setup}-2`);
    await admin.pin(fleet.name, release.id);
    const rssBefore = await retainedRss(nodes.map((n) => n.pid));

    const common = {
      apiUrls: urls,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      signingKey: signingKey ?? '',
      admissionConcurrency: 64,
      recordLatencies: true,
    };
    const behaviour = {
      applyMs: 5_000,
      jitter: JITTER,
      pollIntervalMs: s.pollIntervalMs,
      metricsIntervalMs: s.metricsIntervalMs,
    };
    const withChannels = new FleetSimulator({ ...common, behaviour: { ...behaviour, pushChannel: true } });
    const polling = new FleetSimulator({ ...common, behaviour: { ...behaviour, pushChannel: false } });
    sims.push(withChannels, polling);
    say(`  ${setup}: admitting ${s.devices} devices over ${nodes.length} node(s)`);
    const admitStarted = performance.now();
    const progress = setInterval(
      () =>
        say(
          `    ${withChannels.size + polling.size} made, ${((performance.now() - admitStarted) / 1000).toFixed(0)} s`,
        ),
      15_000,
    );
    try {
      await withChannels.add(s.channels, { live: false });
      await polling.add(s.devices - s.channels, { live: false });
    } finally {
      clearInterval(progress);
    }
    const admissionSeconds = (performance.now() - admitStarted) / 1000;
    say(`  ${setup}: ${s.devices} admitted in ${admissionSeconds.toFixed(1)} s; devices going live`);
    // The polling devices first, then the channels: the memory of each part is measured apart.
    polling.live();
    if (polling.size > 0) await polling.waitConverged(release.id, 600_000);
    const rssPolling = await retainedRss(nodes.map((n) => n.pid));
    withChannels.live();
    await withChannels.waitFor('every push channel open', 600_000, (c) => c.channels >= c.devices);
    await withChannels.waitConverged(release.id, 600_000);
    say(`  ${setup}: fleet converged, ${s.channels} push channels open; measuring ${s.measureSeconds} s`);
    const rollout = await startRollout(admin, fleet.name, next);

    withChannels.takePollLatencies();
    polling.takePollLatencies();
    const before = [withChannels.counts(), polling.counts()];
    const cpuBefore = await cpuOf(nodes);
    const started = performance.now();
    await sleep(s.measureSeconds * 1000);
    const seconds = (performance.now() - started) / 1000;
    const cpu = (await cpuOf(nodes)) - cpuBefore;
    const after = [withChannels.counts(), polling.counts()];
    const rss = await retainedRss(nodes.map((n) => n.pid));
    const rolloutAtEnd = await rolloutSummary(admin, fleet.name, rollout.id);
    const latencies = [...withChannels.takePollLatencies(), ...polling.takePollLatencies()];
    const delta = (key: 'polls' | 'reports' | 'failures' | 'refusedTargets'): number =>
      after.reduce((n, c, i) => n + c[key] - (before[i] as FleetCounts)[key], 0);
    const requests = delta('polls') + delta('reports');
    const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
    const rssSum = sum(rss);
    const rssBeforeSum = sum(rssBefore);
    const rssPollingSum = sum(rssPolling);
    const pollingDevices = s.devices - s.channels;
    const figures: SetupFigures = {
      setup,
      nodes: nodes.length,
      devices: s.devices,
      channels: s.channels,
      admissionSeconds: round(admissionSeconds, 1),
      admissionsPerSecond: round(s.devices / admissionSeconds, 0),
      pollsPerSecond: round(delta('polls') / seconds, 0),
      requestsPerSecond: round(requests / seconds, 0),
      p50PollMs: round(percentile(latencies, 50), 2),
      p99PollMs: round(percentile(latencies, 99), 2),
      cpuUsPerRequest: round((cpu * 1e6) / Math.max(1, requests), 1),
      apiRssMb: mb(rssSum),
      apiRssBeforeMb: mb(rssBeforeSum),
      rssBytesPerDevice: round((rssSum - rssBeforeSum) / s.devices, 0),
      rssBytesPerPollingDevice: pollingDevices === 0 ? null : round((rssPollingSum - rssBeforeSum) / pollingDevices, 0),
      rssBytesPerChannelDevice: s.channels === 0 ? null : round((rssSum - rssPollingSum) / s.channels, 0),
      failures: after.reduce((n, c) => n + c.failures, 0),
      refusedTargets: after.reduce((n, c) => n + c.refusedTargets, 0),
      rollout: rolloutAtEnd,
    };
    say(
      `  ${setup}: ${figures.pollsPerSecond} polls/s (${figures.requestsPerSecond} req/s), p50 ${figures.p50PollMs} ms, p99 ${figures.p99PollMs} ms, ` +
        `${figures.cpuUsPerRequest} us CPU/request, RSS ${figures.apiRssBeforeMb} -> ${figures.apiRssMb} MB (${figures.rssBytesPerDevice} B/device: ` +
        `${figures.rssBytesPerPollingDevice ?? '-'} polling only, ${figures.rssBytesPerChannelDevice ?? '-'} with a channel), ` +
        `${figures.failures} failures (last: ${after.find((c) => c.lastFailure !== null)?.lastFailure ?? 'none'})`,
    );
    return figures;
  } finally {
    for (const sim of sims) await sim.stop();
    await cleanup();
  }
}

async function runBaseline(s: RunSettings) {
  const port = await freePort();
  const koa = await startServer({
    name: 'bare Koa',
    args: [path.join(distRoot, 'bench', 'support', 'bare-koa-channels.js'), String(port)],
    port,
    readyPath: '/',
    nodeFlags: GC_FLAGS,
  });
  try {
    const [rssBefore = 0] = await retainedRss([koa.pid]);
    const load = await startPacedPolls({
      url: koa.url,
      devices: s.devices,
      channels: s.channels,
      pollIntervalMs: s.pollIntervalMs,
      jitter: JITTER,
      maxInFlight: 256,
    });
    try {
      // One poll interval to spread the polls and warm up, then the measurement.
      await sleep(Math.min(s.pollIntervalMs, 30_000));
      load.takeLatencies();
      const cpuBefore = await koa.cpuSeconds();
      const started = performance.now();
      await sleep(s.measureSeconds * 1000);
      const seconds = (performance.now() - started) / 1000;
      const cpu = (await koa.cpuSeconds()) - cpuBefore;
      const latencies = load.takeLatencies();
      const [rss = 0] = await retainedRss([koa.pid]);
      const figures = {
        pollsPerSecond: round(latencies.length / seconds, 0),
        p50PollMs: round(percentile(latencies, 50), 2),
        p99PollMs: round(percentile(latencies, 99), 2),
        cpuUsPerRequest: round((cpu * 1e6) / Math.max(1, latencies.length), 1),
        rssMb: mb(rss),
        rssBeforeMb: mb(rssBefore),
        rssBytesPerDevice: round((rss - rssBefore) / s.devices, 0),
        failures: load.failures(),
      };
      say(
        `  bare Koa: ${figures.pollsPerSecond} polls/s, p50 ${figures.p50PollMs} ms, p99 ${figures.p99PollMs} ms, ` +
          `${figures.cpuUsPerRequest} us CPU/request, RSS ${figures.rssBeforeMb} -> ${figures.rssMb} MB (${figures.rssBytesPerDevice} B/device)`,
      );
      return figures;
    } finally {
      load.stop();
    }
  } finally {
    await koa.stop();
  }
}

async function main(): Promise<void> {
  const devices = positiveInteger('SKIFF_BENCH_DEVICES', GOAL_DEVICES);
  const timeScale = positiveNumber('SKIFF_BENCH_TIME_SCALE', 10);
  const measureSeconds = positiveInteger('SKIFF_BENCH_SECONDS', 60);
  const setups = (process.env.SKIFF_BENCH_SETUPS || 'sqlite,postgres').split(',').map((s) => s.trim());
  for (const setup of setups)
    if (setup !== 'sqlite' && setup !== 'postgres')
      throw new Error(`SKIFF_BENCH_SETUPS names '${setup}': only sqlite and postgres are known`);
  // Each channel is a descriptor in this process and in the API node holding it.
  const fdRoom = descriptorLimit() - DESCRIPTOR_MARGIN;
  const channels = Math.min(devices, positiveInteger('SKIFF_BENCH_CHANNELS', fdRoom), fdRoom);
  const profileDir = process.env.SKIFF_BENCH_CPU_PROF || null;
  const settings: RunSettings = {
    devices,
    channels,
    pollIntervalMs: (POLL_INTERVAL_S * 1000) / timeScale,
    metricsIntervalMs: (METRICS_INTERVAL_S * 1000) / timeScale,
    measureSeconds,
  };
  say(
    `bench fleet-scale: node ${process.version}, ${devices} devices (${channels} holding push channels; descriptor limit ${descriptorLimit()}), ` +
      `polls every ${(settings.pollIntervalMs / 1000).toFixed(0)} s and metrics every ${(settings.metricsIntervalMs / 1000).toFixed(0)} s ` +
      `(15 min and 1 h compressed ${timeScale}x, jitter ${JITTER}), ${measureSeconds} s measured, setups ${setups.join(', ')}`,
  );
  const work = await mkdtemp(path.join(tmpdir(), 'skiff-bench-fleet-scale-'));
  try {
    const baseline = await runBaseline(settings);
    const results: SetupFigures[] = [];
    for (const setup of setups) results.push(await runSetup(setup as SetupName, work, settings, profileDir));
    const met = results.every(
      (r) =>
        r.failures === 0 &&
        r.refusedTargets === 0 &&
        r.p99PollMs < GOALS.p99PollMs &&
        r.rssBytesPerDevice < GOALS.rssBytesPerDevice &&
        (r.admissionSeconds * GOAL_DEVICES) / devices < GOALS.admissionSeconds,
    );
    process.stdout.write(
      `${JSON.stringify({ bench: 'fleet-scale', figures: { baseline, setups: results }, goals: GOALS, met })}\n`,
    );
  } finally {
    if (profileDir !== null) say(`CPU profiles of the API processes in ${profileDir}`);
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench fleet-scale failed: ${messageOf(err)}\n`);
  process.exit(1);
});

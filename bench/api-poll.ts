// bench/api-poll: how many target-state polls per second registry-api answers on this machine, with 10,000
// devices registered and nearly every poll a 304, against a bare Koa hello-world server measured in the same run
// (goal: at least 0.7 of its rate). The API and the baseline each run in their own Node process, the load comes
// from Debian's wrk in another (scripts/deps.sh installs it), rotating through every device's token and ETag;
// every 20th poll asks without If-None-Match and gets the full signed target. Rounds alternate baseline and API
// and the medians count, so a noisy neighbour hits both alike.
// Needs a test environment's registry (SKIFF_ENV_FILE or .skiff/test) for the release's images.
// Readable lines on stdout, then exactly one JSON line. Environment: SKIFF_BENCH_DEVICES (10000),
// SKIFF_BENCH_SECONDS per round (10), SKIFF_BENCH_RUNS (3), SKIFF_BENCH_CONNECTIONS (64),
// SKIFF_BENCH_CPU_PROF=DIR to profile the API process (node --cpu-prof) into DIR.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { messageOf } from '../lib/errors.js';
import { loadBenchEnv } from './support/env.js';
import { preparePollFleet } from './support/poll-fleet.js';
import { startServer, type ServerProcess } from './support/server-process.js';
import { median, ratio, round } from './support/stats.js';
import { runWrk, type WrkResult, type WrkTarget } from './support/wrk.js';
import { positiveInteger } from './support/settings.js';
import { say } from './support/say.js';

const GOALS = { ratioVsBareKoa: 0.7 } as const;
const ADMIN_TOKEN = 'bench-api-poll-admin-token-0123456789';
const FULL_EVERY = 20;

const distDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A free port: the OS picks one for a moment, then it is handed to the server process. */
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

type Round = WrkResult & { cpuUsPerRequest: number };

function describe(name: string, r: Round): string {
  return (
    `  ${name.padEnd(9)} ${r.requestsPerSecond.toFixed(0).padStart(7)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms` +
    `  ${r.cpuUsPerRequest.toFixed(0)} us CPU/answer` +
    `  (${r.status304} x 304, ${r.status200} x 200, ${r.statusOther} other, ${r.socketErrors} socket errors)`
  );
}

async function main(): Promise<void> {
  const devices = positiveInteger('SKIFF_BENCH_DEVICES', 10_000);
  const seconds = positiveInteger('SKIFF_BENCH_SECONDS', 10);
  const runs = positiveInteger('SKIFF_BENCH_RUNS', 3);
  const connections = positiveInteger('SKIFF_BENCH_CONNECTIONS', 64);
  const profileDir = process.env.SKIFF_BENCH_CPU_PROF || null;
  const work = await mkdtemp(path.join(tmpdir(), 'skiff-bench-api-poll-'));
  const servers: ServerProcess[] = [];
  say(
    `bench api-poll: node ${process.version}, ${devices} devices, ${runs} rounds of ${seconds} s, ${connections} connections, 1 in ${FULL_EVERY} polls unconditional`,
  );
  try {
    const apiPort = await freePort();
    const api = await startServer({
      name: 'registry-api',
      args: [path.join(distDir, 'registry-api', 'main.js')],
      env: {
        SKIFF_DATA_DIR: path.join(work, 'api'),
        SKIFF_API_PORT: String(apiPort),
        SKIFF_ADMIN_TOKEN: ADMIN_TOKEN,
        SKIFF_REDIS_URL: '',
      },
      port: apiPort,
      readyPath: '/v1/info',
      nodeFlags: profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
    });
    servers.push(api);
    const koaPort = await freePort();
    const koa = await startServer({
      name: 'bare Koa',
      args: [path.join(distDir, 'bench', 'support', 'bare-koa.js'), String(koaPort)],
      port: koaPort,
      readyPath: '/',
    });
    servers.push(koa);

    const fleet = await preparePollFleet(api.url, ADMIN_TOKEN, loadBenchEnv().registry, devices, (line) =>
      say(`  ${line}`),
    );
    say(`  release status: ${fleet.releaseStatus}; every device has its token and ETag`);
    // The baseline gets the same requests (headers and all) so wrk does the same work for both.
    const koaTargets: WrkTarget[] = fleet.targets;

    /** A round of load, with the CPU time the server spent per answer (robust where other processes share the CPU). */
    const load = async (server: ServerProcess, targets: WrkTarget[], secs: number): Promise<Round> => {
      const cpuBefore = await server.cpuSeconds();
      const result = await runWrk({
        url: server.url,
        targets,
        seconds: secs,
        connections,
        threads: 1,
        fullEvery: FULL_EVERY,
        dir: work,
      });
      return { ...result, cpuUsPerRequest: (((await server.cpuSeconds()) - cpuBefore) * 1e6) / result.requests };
    };
    // Warm-up: JIT, SQLite page cache, connection setup.
    await load(koa, koaTargets, 2);
    await load(api, fleet.targets, 3);

    const koaRuns: Round[] = [];
    const apiRuns: Round[] = [];
    for (let i = 0; i < runs; i += 1) {
      koaRuns.push(await load(koa, koaTargets, seconds));
      say(describe('bare Koa', koaRuns.at(-1)!));
      apiRuns.push(await load(api, fleet.targets, seconds));
      say(describe('API', apiRuns.at(-1)!));
    }
    const failed = apiRuns.reduce((n, r) => n + r.statusOther + r.socketErrors, 0);
    const apiRps = median(apiRuns.map((r) => r.requestsPerSecond));
    const koaRps = median(koaRuns.map((r) => r.requestsPerSecond));
    const share304 = apiRuns.reduce((n, r) => n + r.status304, 0) / apiRuns.reduce((n, r) => n + r.requests, 0);
    const figures = {
      devices,
      apiRequestsPerSecond: round(apiRps, 0),
      bareKoaRequestsPerSecond: round(koaRps, 0),
      ratioVsBareKoa: ratio(apiRps, koaRps),
      apiP99Ms: round(median(apiRuns.map((r) => r.p99Ms)), 2),
      bareKoaP99Ms: round(median(koaRuns.map((r) => r.p99Ms)), 2),
      apiCpuUsPerRequest: round(median(apiRuns.map((r) => r.cpuUsPerRequest)), 1),
      bareKoaCpuUsPerRequest: round(median(koaRuns.map((r) => r.cpuUsPerRequest)), 1),
      /** The same ratio from CPU time per answer: what the rate ratio would be with a core to itself. */
      cpuRatioVsBareKoa: ratio(
        median(koaRuns.map((r) => r.cpuUsPerRequest)),
        median(apiRuns.map((r) => r.cpuUsPerRequest)),
      ),
      share304: round(share304, 3),
      failedAnswers: failed,
    };
    say(
      `API / bare Koa: ${figures.ratioVsBareKoa} (goal >= ${GOALS.ratioVsBareKoa}); API p99 ${figures.apiP99Ms} ms; ${failed} answers neither 200 nor 304`,
    );
    // Wrong answers at any speed are no result.
    const met = failed === 0 && figures.ratioVsBareKoa >= GOALS.ratioVsBareKoa;
    process.stdout.write(`${JSON.stringify({ bench: 'api-poll', figures, goals: GOALS, met })}\n`);
  } finally {
    for (const server of servers.reverse()) await server.stop();
    if (profileDir !== null) say(`CPU profile of the API process in ${profileDir}`);
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench api-poll failed: ${messageOf(err)}\n`);
  process.exit(1);
});

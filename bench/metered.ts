// bench/metered: what an idle device costs on a metered SIM, and what a pin costs it. One real supervisor process
// with production defaults (no interval overrides) talks https to a TLS terminator (Node's tls) through a
// byte-counting TCP proxy (harness/metered-link.ts) to the API with the production server's keep-alive. After the
// device converged and settled, the proxy's bytes are measured for `--minutes` (20 by default; or
// SKIFF_BENCH_METERED_MINUTES): bytes per hour by purpose with TLS and estimated TCP/IP headers (checked against the
// kernel's segment counts), extrapolated to a 30-day month. Halfway through, the fleet is pinned to another
// release (same image, another environment variable, so no layer is downloaded: image bytes go from the device to
// the registry directly, not over this link); the pin's latency to the device's first step and its bytes (the
// link's bytes in the minute after the pin, less the idle rate) are the second pair of figures.
// What happens once a day (the API ends the channel at its age limit; the device polls, reopens it and sends its
// day's report) is made to happen once, after the window, by giving the channel an age that ends there, and measured.
// Goals: under 1 MB a month idle, the pin at the device within 2 s and under 40 kB.
// Readable lines, then one JSON line. Needs an environment (SKIFF_ENV_FILE, or scripts/bench.sh starts 'test').
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fetchFailureReason, messageOf } from '../lib/errors.js';
import type { SupervisorConfig } from '../supervisor/config.js';
import { ApiServer } from '../harness/api-server.js';
import { buildTestImage } from '../harness/images.js';
import { MeteredLink, type LinkBytes } from '../harness/metered-link.js';
import { cleanDevice, deviceDocker, eventually } from '../harness/supervisor-device.js';
import { apiSigningKeyAt, makeDataDir, SupervisorProcess } from '../harness/supervisor-process.js';
import { DEFAULT_HEARTBEAT_SECONDS } from '../protocol/device-events.js';
import { loadBenchEnv } from './support/env.js';
import { positiveNumber } from './support/settings.js';
import { say } from './support/say.js';

const GOALS = {
  idle_bytes_per_month: 1_000_000,
  pin_latency_ms: 2_000,
  pin_bytes: 40_000,
} as const;

const HOURS_PER_MONTH = 30 * 24;
/**
 * After converging: the last reports go out and their connection closes (the device keeps an idle connection
 * 2 minutes, protocol/device-events.ts pushTimings) before the idle measurement starts.
 */
const SETTLE_MS = 150_000;
/**
 * What a pin is charged for: the link's bytes this long after it (target, apply, reports, and the close of their
 * connection once idle), less the idle rate.
 */
const PIN_WINDOW_MS = 180_000;
/** How long the daily events (see below) are given to happen and their connections to close. */
const DAILY_WINDOW_MS = 180_000;
/** Longest the device may take to converge and open its channel; the channel's age limit leaves room for it. */
const CONVERGE_ALLOWANCE_MS = 180_000;

function minutesOf(): number {
  const { values } = parseArgs({ options: { minutes: { type: 'string' } }, allowPositionals: false });
  if (values.minutes === undefined) return positiveNumber('SKIFF_BENCH_METERED_MINUTES', 20);
  const minutes = Number(values.minutes);
  if (!Number.isFinite(minutes) || minutes <= 0)
    throw new Error(`--minutes must be a positive number, got '${values.minutes}'`);
  return minutes;
}

function composeOf(pin: string): string {
  return [
    'services:',
    '  app:',
    '    build: ./app',
    '    restart: always',
    '    environment:',
    `      PIN: "${pin}"`,
    '',
  ].join('\n');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function total(bytes: LinkBytes): number {
  return bytes.payload + bytes.headers;
}

async function main(): Promise<void> {
  const minutes = minutesOf();
  const env = loadBenchEnv();
  const docker = deviceDocker(env);
  say(
    `bench metered: node ${process.version}, ${minutes} min idle measurement, heartbeat ${DEFAULT_HEARTBEAT_SECONDS} s`,
  );
  await cleanDevice(docker);
  const measureMs = minutes * 60_000;
  // The channel's daily renewal, brought forward to just after the measurement so that it can be measured.
  const channelAgeMs = CONVERGE_ALLOWANCE_MS + SETTLE_MS + measureMs;
  const api = await ApiServer.start({
    registry: env.registry,
    productionServer: true,
    redisUrl: null,
    pushChannelMaxAgeMs: channelAgeMs,
  });
  const link = await MeteredLink.start({ apiUrl: api.url, tls: true });
  let device: SupervisorProcess | undefined;
  let dataDir: string | undefined;
  try {
    const image = await buildTestImage(env, { repo: 'metered' });
    const fleet = await api.createFleet('metered');
    const release1 = await api.createRelease(fleet.name, composeOf('1'), { app: image });
    const release2 = await api.createRelease(fleet.name, composeOf('2'), { app: image });
    await api.admin.pin(fleet.name, release1.version);
    const config: SupervisorConfig = {
      apiUrl: link.url,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: 'raspberrypi4-64',
      dockerHost: env.deviceDockerHost,
      localApiPort: 0,
      // Read from the API itself, not through the link: this process does not trust the terminator's test CA.
      apiSigningKey: await apiSigningKeyAt(api.url),
    };
    dataDir = await makeDataDir(config);
    device = new SupervisorProcess(dataDir, { NODE_EXTRA_CA_CERTS: link.caFile ?? '' });
    const p = device;
    const dir = dataDir;
    const uuid = await eventually(
      'the device to pick its uuid',
      30_000,
      async () => (JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as SupervisorConfig).uuid,
    );
    const converged = (releaseId: string) => async () => {
      const d = await api.device(uuid);
      return d.lastReport?.updateStatus === 'converged' && d.lastReport.releaseId === releaseId ? d : undefined;
    };
    await eventually('release 1 converged', 120_000, converged(release1.id));
    await eventually('the push channel open', 60_000, async () =>
      p.hasLogged('push channel open') ? true : undefined,
    );
    say(`device ${uuid} converged on release 1 over ${link.url}; settling ${SETTLE_MS / 1000} s`);
    await sleep(SETTLE_MS);

    const start = Date.now();
    const kernelAtStart = await link.kernelSegments();
    await sleep(measureMs / 2);
    const pinAt = Date.now();
    await api.admin.pin(fleet.name, release2.version);
    const plan = await eventually(
      'a plan for the pinned release',
      30_000,
      async () =>
        p
          .logs()
          .find(
            (l) =>
              l.msg === 'applying plan' && l.release === release2.id && typeof l.time === 'number' && l.time >= pinAt,
          ),
      20,
    );
    const pinLatencyMs = Number(plan.time) - pinAt;
    await eventually('release 2 converged', 60_000, converged(release2.id));
    say(`pinned release 2: the device planned it ${pinLatencyMs} ms later`);
    await sleep(Math.max(0, start + measureMs - Date.now()));
    const end = Date.now();
    const kernelAtEnd = await link.kernelSegments();

    const opened = (since: number) =>
      p.logs().filter((l) => l.msg === 'push channel open' && typeof l.time === 'number' && l.time >= since);
    if (opened(start).length > 0) throw new Error('the push channel reopened during the measurement: figures void');

    // What a window of minutes cannot see happens once a day: the API ends the channel at its age limit, the
    // device polls, reopens it, polls again and sends its day's report (metrics, data use) with them. The age was
    // set so that this renewal comes after the window; it is measured as it is, and counted once a day.
    const closed = await eventually('the channel renewal', channelAgeMs + 60_000, async () =>
      p
        .logs()
        .find(
          (l) =>
            l.msg === 'push channel closed; polling instead' &&
            l.reason === 'the API ended the stream' &&
            typeof l.time === 'number' &&
            l.time >= end,
        ),
    );
    const dailyAt = Number(closed.time) - 1_000;
    await eventually('the push channel open again', 60_000, async () =>
      opened(dailyAt).length > 0 ? true : undefined,
    );
    await sleep(Math.max(0, dailyAt + DAILY_WINDOW_MS - Date.now()));
    // Idle: the whole window without the pin's minute.
    const pinEnd = Math.min(end, pinAt + PIN_WINDOW_MS);
    const before = link.bytesBetween(start, pinAt);
    const after = link.bytesBetween(pinEnd, end);
    const idleMs = pinAt - start + (end - pinEnd);
    const idleBytes = total(before) + total(after);
    const perHour = (idleBytes / idleMs) * 3_600_000;
    const idlePerMonth = perHour * HOURS_PER_MONTH;
    const pinWindow = link.bytesBetween(pinAt, pinEnd);
    const daily = link.bytesBetween(dailyAt, dailyAt + DAILY_WINDOW_MS);
    const dailyBytes = Math.max(0, Math.round(total(daily) - (idleBytes / idleMs) * DAILY_WINDOW_MS));
    const dailyPerMonth = 30 * dailyBytes;
    const dailyReports = p
      .logs()
      .filter((l) => l.msg === 'state reported' && typeof l.time === 'number' && l.time >= dailyAt).length;
    const pinBytes = Math.max(0, total(pinWindow) - (idleBytes / idleMs) * (pinEnd - pinAt));

    say(`-- idle, ${(idleMs / 60_000).toFixed(1)} min measured (TLS and estimated TCP/IP headers included)`);
    const purposes = new Set([...Object.keys(before.byPurpose), ...Object.keys(after.byPurpose)]);
    const byPurpose: Record<string, { bytes_per_hour: number; bytes_per_month: number }> = {};
    for (const purpose of purposes) {
      const key = purpose as keyof LinkBytes['byPurpose'];
      const bytes =
        (before.byPurpose[key]?.payload ?? 0) +
        (before.byPurpose[key]?.headers ?? 0) +
        (after.byPurpose[key]?.payload ?? 0) +
        (after.byPurpose[key]?.headers ?? 0);
      const hour = (bytes / idleMs) * 3_600_000;
      byPurpose[purpose] = { bytes_per_hour: Math.round(hour), bytes_per_month: Math.round(hour * HOURS_PER_MONTH) };
      say(
        `  ${purpose.padEnd(8)} ${Math.round(hour).toString().padStart(8)} B/h  ${((hour * HOURS_PER_MONTH) / 1e6).toFixed(3)} MB/month`,
      );
    }
    const idleHeaders = before.headers + after.headers;
    say(
      `  total    ${Math.round(perHour).toString().padStart(8)} B/h  ${(idlePerMonth / 1e6).toFixed(3)} MB/month ` +
        `(payload ${before.payload + after.payload} B, TCP/IP headers ${idleHeaders} B in ${before.segments + after.segments} segments, ` +
        `${before.connectionsOpened + after.connectionsOpened} connections opened)`,
    );
    // The kernel's count for connections open through the whole window: catches TCP keepalive probes.
    let kernelSegments = 0;
    let estimatedSegments = 0;
    for (const [id, endCount] of kernelAtEnd) {
      const startCount = kernelAtStart.get(id);
      if (startCount === undefined) continue;
      kernelSegments += endCount - startCount;
      const chunks = link.chunks.filter((c) => c.connection === id && c.atMs >= start && c.atMs < end);
      estimatedSegments += chunks.reduce((sum, c) => sum + Math.ceil(c.bytes / 1448) + 1, 0);
    }
    say(
      `  connections open throughout: ${kernelSegments} segments by the kernel's count, ${estimatedSegments} by the estimate`,
    );
    say(
      `-- daily: channel renewal with its polls and ${dailyReports} report(s) ${dailyBytes} bytes (idle rate removed, ` +
        `${daily.connectionsOpened} connections opened), once a day: ${(dailyPerMonth / 1e6).toFixed(3)} MB/month`,
    );
    const perMonth = idlePerMonth + dailyPerMonth;
    say(
      `-- month: ${(perMonth / 1e6).toFixed(3)} MB (idle ${(idlePerMonth / 1e6).toFixed(3)} + daily ${(dailyPerMonth / 1e6).toFixed(3)})`,
    );
    say(
      `-- pin: first step after ${pinLatencyMs} ms, ${Math.round(pinBytes)} bytes on the link (${total(pinWindow)} in its window, idle rate removed)`,
    );

    const met =
      perMonth < GOALS.idle_bytes_per_month && pinLatencyMs <= GOALS.pin_latency_ms && pinBytes < GOALS.pin_bytes;
    say(
      JSON.stringify({
        bench: 'metered',
        figures: {
          minutes: Math.round((idleMs / 60_000) * 10) / 10,
          heartbeat_seconds: DEFAULT_HEARTBEAT_SECONDS,
          idle_bytes_per_hour: Math.round(perHour),
          idle_bytes_per_month: Math.round(perMonth),
          idle_window_bytes_per_month: Math.round(idlePerMonth),
          daily_renewal_bytes: dailyBytes,
          daily_reports: dailyReports,
          daily_connections_opened: daily.connectionsOpened,
          daily_bytes_per_month: Math.round(dailyPerMonth),
          idle_by_purpose: byPurpose,
          idle_tcpip_header_bytes: idleHeaders,
          idle_connections_opened: before.connectionsOpened + after.connectionsOpened,
          kernel_segments_long_connections: kernelSegments,
          estimated_segments_long_connections: estimatedSegments,
          pin_latency_ms: pinLatencyMs,
          pin_bytes: Math.round(pinBytes),
        },
        goals: GOALS,
        met,
      }),
    );
  } finally {
    await device?.stop('SIGKILL');
    await link.stop();
    await api.stop();
    await cleanDevice(docker);
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench metered failed: ${messageOf(err)} (${fetchFailureReason(err)})\n`);
  process.exit(1);
});

// Memory of the real supervisor process run the way `make demo` runs it, against a bare idle Node process sampled in
// the same instants. The supervisor is node dist/supervisor/main.js with a data dir and the demo's settings (info
// logs, a report a second): it registers with the real registry-api (in this process, over HTTP, SQLite, the
// environment's Redis for the job worker), keeps its push channel open, sends metric reports and ships logs. It
// applies a run of releases, every other one a new build of a Node service's app code (so that update fetches an
// image; the API's delta job has its patches stored before the release is pinned, so the device rebuilds it from
// them) and the others a new environment only, is followed by `skiff logs --follow` for part of them, and then
// sits idle for the soak.
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { EngineClient } from '../../supervisor/engine/client.js';
import type { Fleet } from '../../protocol/api.js';
import { deltaTagOf } from '../../protocol/delta.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { RegistryClient } from '../../lib/registry/client.js';
import { ApiServer } from '../../harness/api-server.js';
import { BASE_IMAGE, buildTestImage } from '../../harness/images.js';
import { SkiffProcess } from '../../harness/skiff-process.js';
import type { BenchEnv } from './env.js';
import { makeDataDir, SupervisorProcess } from '../../harness/supervisor-process.js';
import { buildReleaseChain, type PushedImage } from './delta-images.js';
import { emptyDevice, runsExactly, waitFor } from './device.js';
import { gcReportOf, type GcReport } from './gc-report.js';
import { medianRss, rssBytes, rssParts } from './rss.js';
import { mb, sleep } from './stats.js';
import { SUPERVISOR_ENV } from '../../supervisor/launch.js';

const GC_PRELOAD = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'gc-on-signal.js')).href;
const CONVERGE_TIMEOUT_MS = 120_000;
/** How long a release waits for the API's delta job before it is pinned anyway (then it counts as a full pull). */
const DELTA_WAIT_MS = 60_000;
/** The Node service the releases build: small real packages and generated app code. */
const PACKAGES = ['ajv', 'yaml', 'commander', 'semver'];
/** The meter prints a reading a second, so the log follow has lines to carry. */
const METER_COMMAND = [
  'sh',
  '-c',
  'trap "exit 0" TERM; i=0; while :; do i=$((i+1)); echo "reading $i"; sleep 1 & wait $!; done',
];

export interface MemoryOptions {
  /** Releases applied after the first one. */
  releases: number;
  /** The idle soak after the releases. */
  soakMinutes: number;
  /**
   * Quiet time after convergence before sampling. V8's memory reducer shrinks the heap some 15-20 s after the
   * allocation rate drops; sampling before that measures start-up garbage.
   */
  settleMs: number;
  samples: number;
  progress: (line: string) => void;
}

export interface Retained extends Pick<GcReport, 'heapTotal' | 'heapUsed' | 'external'> {
  /** Median VmRSS after the GC. */
  rss: number;
  /** The last sample's RssAnon and RssFile. */
  anon: number;
  file: number;
}

/** Median VmRSS of the supervisor and of the bare Node process, sampled together. */
export interface RssPair {
  bare: number;
  supervisor: number;
}

export interface MemoryFigures {
  /** The allocator the supervisor runs on: jemalloc when the library supervisor/launch.ts preloads is mapped. */
  allocator: 'jemalloc' | 'glibc';
  fresh: RssPair;
  afterUpdates: RssPair;
  afterSoak: RssPair;
  /** After a full GC, at the start and at the end of the soak: what growth is measured on. */
  soakStart: Retained;
  soakEnd: Retained;
  releases: number;
  /** Deliveries of the app image, and how many of them moved less than half its bytes (patches). */
  appDeliveries: number;
  deltaDeliveries: number;
  followLines: number;
  soakSeconds: number;
}

/** A supervisor process of a new device in `fleet`, with what it needs to find out how it is doing. */
export class Device {
  private constructor(
    readonly supervisor: SupervisorProcess,
    readonly dataDir: string,
    private readonly api: ApiServer,
    private readonly docker: EngineClient,
  ) {}

  static async start(api: ApiServer, docker: EngineClient, env: BenchEnv, fleet: Fleet): Promise<Device> {
    const dataDir = await makeDataDir({
      apiUrl: api.url,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: fleet.deviceType,
      dockerHost: env.deviceDockerHost,
    });
    const supervisor = new SupervisorProcess(dataDir, {
      // What a device runs at: per-step info lines are part of the cost.
      SKIFF_LOG_LEVEL: 'info',
      SKIFF_REPORT_INTERVAL_MS: '1000',
      // Lets the bench ask for a full GC before a growth sample; the supervisor's code is unchanged.
      NODE_OPTIONS: `--expose-gc --import=${GC_PRELOAD}`,
    });
    return new Device(supervisor, dataDir, api, docker);
  }

  get pid(): number {
    const pid = this.supervisor.child.pid;
    if (pid === undefined) throw new Error('the supervisor process did not start');
    return pid;
  }

  async identity(): Promise<{ uuid: string; deviceKey: string } | undefined> {
    const config = JSON.parse(await readFile(path.join(this.dataDir, 'config.json'), 'utf8')) as SupervisorConfig;
    return config.uuid !== undefined && config.deviceToken !== undefined
      ? { uuid: config.uuid, deviceKey: config.deviceToken }
      : undefined;
  }

  /** Until the API sees `version` converged and the engine runs exactly the target the API serves. */
  async converged(version: string): Promise<void> {
    try {
      await waitFor(`the device to converge release ${version}`, CONVERGE_TIMEOUT_MS, async () => {
        const id = await this.identity();
        if (id === undefined) return false;
        const device = await this.api.device(id.uuid);
        if (device.updateStatus !== 'converged' || device.runningRelease !== version) return false;
        return runsExactly(this.docker, await this.api.deviceTarget(id.uuid, id.deviceKey));
      });
    } catch (err) {
      throw new Error(
        `${String(err)}\nlast supervisor log lines:\n${this.supervisor.logText().split('\n').slice(-15).join('\n')}`,
        { cause: err },
      );
    }
  }

  /** After a full GC: the RSS the process retains, and the process's own breakdown of it. */
  async retained(samples: number): Promise<Retained> {
    const reports = (): GcReport[] => this.supervisor.logs().flatMap((l) => gcReportOf(l) ?? []);
    const before = reports().length;
    process.kill(this.pid, 'SIGUSR2');
    await sleep(2_000);
    const [rss = 0] = await medianRss([this.pid], samples, 500);
    const after = reports();
    const report = after.length > before ? after.at(-1) : undefined;
    if (report === undefined)
      throw new Error('the supervisor did not answer SIGUSR2 with a memory report (is the GC preload loaded?)');
    const { anon, file } = await rssParts(this.pid);
    return { rss, anon, file, heapTotal: report.heapTotal, heapUsed: report.heapUsed, external: report.external };
  }

  async stop(): Promise<void> {
    await this.supervisor.stop('SIGTERM');
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

interface DemoRelease {
  compose: string;
  images: Record<string, string>;
}

/** Release `cycle`: the app on `app`, the meter on its image; the cycle number gives both new containers. */
function demoRelease(app: PushedImage, meter: string, cycle: number): DemoRelease {
  const compose = [
    'services:',
    '  app:',
    '    build: ./app',
    '    restart: always',
    '    environment:',
    `      RELEASE_CYCLE: "${cycle}"`,
    '  meter:',
    '    build: ./meter',
    '    restart: always',
    '    environment:',
    '      METER_PORT: /dev/ttyUSB0',
    `      RELEASE_CYCLE: "${cycle}"`,
    '',
  ].join('\n');
  return { compose, images: { app: app.ref, meter } };
}

/** Until the API's delta job stored patches for `image` (true), or DELTA_WAIT_MS passed (false). */
async function deltaStored(env: BenchEnv, image: PushedImage): Promise<boolean> {
  const io = new RegistryClient();
  const ref = { registry: env.registry, repository: image.repository };
  const tag = deltaTagOf(image.config.digest);
  const deadline = Date.now() + DELTA_WAIT_MS;
  while (Date.now() < deadline) {
    if ((await io.manifest(ref, tag)) !== null) return true;
    await sleep(500);
  }
  return false;
}

interface Deliveries {
  app: number;
  delta: number;
}

/**
 * The supervisor's own account of the app image deliveries: how many, and how many moved less than half the app
 * layer's compressed bytes (only patches do: every build changes that layer, and a pull fetches it whole).
 */
function deliveriesOf(device: Device, images: readonly PushedImage[]): Deliveries {
  const sizes = new Map(images.map((i) => [i.digest, i.layers.at(-1)?.size ?? 0]));
  let app = 0;
  let delta = 0;
  for (const line of device.supervisor.logs()) {
    if (line.msg !== 'image delivered' || typeof line.image !== 'string') continue;
    const digest = line.image.slice(line.image.indexOf('@') + 1);
    const size = sizes.get(digest);
    if (size === undefined) continue;
    app++;
    if (typeof line.fetchedBytes === 'number' && line.fetchedBytes < size / 2) delta++;
  }
  return { app, delta };
}

async function sampleBoth(bare: number, device: Device, options: MemoryOptions): Promise<RssPair> {
  const [b = 0, s = 0] = await medianRss([bare, device.pid], options.samples, 2_000);
  return { bare: b, supervisor: s };
}

export async function measureMemory(
  env: BenchEnv,
  docker: EngineClient,
  options: MemoryOptions,
): Promise<MemoryFigures> {
  const builds = await buildReleaseChain(
    env,
    { base: BASE_IMAGE, packages: PACKAGES, bumped: 'semver', repository: 'skiff-bench/demo-app' },
    Math.ceil(options.releases / 2) + 1,
  );
  const build = (cycle: number): PushedImage => {
    const image = builds[cycle];
    if (image === undefined) throw new Error(`no build for release cycle ${cycle} (${builds.length} built)`);
    return image;
  };
  const meter = await buildTestImage(env, { repo: 'bench-demo-meter', cmd: METER_COMMAND });
  options.progress(`images built and pushed: ${builds.length} builds of a Node service, a meter that logs`);
  const api = await ApiServer.start({ registry: env.registry });
  // Bare Node as node starts it: none of the supervisor's launch environment, even if the bench was given it.
  const bareEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !(name in SUPERVISOR_ENV)));
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore', env: bareEnv });
  let device: Device | undefined;
  let follow: SkiffProcess | undefined;
  try {
    await emptyDevice(docker);
    const barePid = bare.pid;
    if (barePid === undefined) throw new Error('the bare Node process did not start');
    const fleet = await api.createFleet('bench-demo');
    const initial = demoRelease(build(0), meter, 0);
    const firstRelease = await api.createRelease(fleet.name, initial.compose, initial.images);
    await api.admin.pin(fleet.name, firstRelease.version);
    const d = await Device.start(api, docker, env, fleet);
    device = d;
    await d.converged(firstRelease.version);
    await waitFor('the push channel open', 60_000, async () => d.supervisor.hasLogged('push channel open'));
    options.progress(`device converged release ${firstRelease.version}; settling ${options.settleMs / 1000} s`);
    await sleep(options.settleMs);
    const allocator = (await readFile(`/proc/${d.pid}/maps`, 'utf8')).includes('/libjemalloc.so')
      ? 'jemalloc'
      : 'glibc';
    const fresh = await sampleBoth(barePid, d, options);
    options.progress(`fresh: bare ${mb(fresh.bare)} MB, supervisor ${mb(fresh.supervisor)} MB`);

    const followFrom = Math.max(1, Math.floor(options.releases / 4));
    const followUntil = Math.max(followFrom, Math.ceil((options.releases * 3) / 4));
    let followLines = 0;
    let deltasReady = 0;
    for (let cycle = 1; cycle <= options.releases; cycle++) {
      if (cycle === followFrom) {
        const id = await d.identity();
        if (id === undefined) throw new Error('the device has no uuid after converging');
        follow = new SkiffProcess(api, ['logs', id.uuid, '--follow']);
      }
      const app = build(Math.ceil(cycle / 2));
      const release = demoRelease(app, meter, cycle);
      const created = await api.createRelease(fleet.name, release.compose, release.images);
      if (cycle % 2 === 1 && (await deltaStored(env, app))) deltasReady++;
      await api.admin.pin(fleet.name, created.version);
      await d.converged(created.version);
      if (cycle === followUntil && follow !== undefined) {
        followLines = follow.lines().length;
        await follow.stop('SIGINT');
        follow = undefined;
      }
      if (cycle % 5 === 0) options.progress(`${cycle} releases applied, RSS ${mb(await rssBytes(d.pid))} MB`);
    }
    const deliveries = deliveriesOf(d, builds);
    options.progress(
      `${options.releases} releases applied (patches stored for ${deltasReady} of ${builds.length - 1} new builds); app image delivered ` +
        `${deliveries.app} times, ${deliveries.delta} by patches; log follow printed ${followLines} lines; ` +
        `settling ${options.settleMs / 1000} s`,
    );
    await sleep(options.settleMs);
    const afterUpdates = await sampleBoth(barePid, d, options);
    const soakStart = await d.retained(options.samples);
    const started = Date.now();
    const soakMs = options.soakMinutes * 60_000;
    options.progress(`idle soak: ${options.soakMinutes} min`);
    let nextLine = started + 5 * 60_000;
    while (Date.now() - started < soakMs) {
      await sleep(Math.min(10_000, Math.max(0, started + soakMs - Date.now())));
      if (Date.now() >= nextLine) {
        nextLine += 5 * 60_000;
        options.progress(
          `soak: ${Math.round((Date.now() - started) / 60_000)} min, RSS ${mb(await rssBytes(d.pid))} MB`,
        );
      }
    }
    const soakSeconds = (Date.now() - started) / 1000;
    const afterSoak = await sampleBoth(barePid, d, options);
    const soakEnd = await d.retained(options.samples);
    return {
      allocator,
      fresh,
      afterUpdates,
      afterSoak,
      soakStart,
      soakEnd,
      releases: options.releases,
      appDeliveries: deliveries.app,
      deltaDeliveries: deliveries.delta,
      followLines,
      soakSeconds,
    };
  } finally {
    await follow?.stop('SIGINT');
    bare.kill('SIGKILL');
    await device?.stop();
    await api.stop();
    await emptyDevice(docker);
  }
}

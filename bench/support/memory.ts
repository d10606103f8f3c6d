// Idle memory of the real supervisor process against a bare idle Node process, and its growth over a soak that
// keeps pushing releases. The supervisor runs as on a device (node dist/supervisor/main.js with a data dir): it
// registers with the real registry-api (in this process, over HTTP, SQLite), follows the fleet's releases and
// manages the device engine. Two devices, one after the other: one in a fleet with the default poll interval for
// the idle figure, one polling every second for the soak.
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { EngineClient } from '../../supervisor/engine/client.js';
import type { Fleet } from '../../protocol/api.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { ApiServer } from '../../harness/api-server.js';
import type { BenchEnv } from './env.js';
import { makeDataDir, SupervisorProcess } from '../../harness/supervisor-process.js';
import { emptyDevice, runsExactly, waitFor } from './device.js';
import { fixtureRelease, type FixtureImages, type Release } from './fixture.js';
import { gcReportOf, type GcReport } from './gc-report.js';
import { medianRss, rssBytes } from './rss.js';
import { mb, sleep } from './stats.js';

const GC_PRELOAD = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'gc-on-signal.js')).href;
const CONVERGE_TIMEOUT_MS = 60_000;

export interface MemoryOptions {
  soakMinutes: number;
  /**
   * Quiet time after convergence before sampling. V8's memory reducer shrinks the heap some 15-20 s after the
   * allocation rate drops (seen here: 93 -> 75 MB at 20 s); sampling before that measures start-up garbage.
   */
  settleMs: number;
  samples: number;
  progress: (line: string) => void;
}

export interface Retained extends Pick<GcReport, 'heapUsed' | 'external'> {
  /** Median VmRSS after the GC. */
  rss: number;
}

export interface MemoryFigures {
  bareRssBytes: number;
  supervisorRssBytes: number;
  /** The soaking supervisor right after a full GC: just converged, warmed up (soak start), and after the soak. */
  soakCold: Retained;
  soakStart: Retained;
  soakEnd: Retained;
  soakReleases: number;
  soakSeconds: number;
}

/** A supervisor process of a new device in `fleet`, with what it needs to find out how it is doing. */
class Device {
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

  private async identity(): Promise<{ uuid: string; deviceKey: string } | undefined> {
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
    return { rss, heapUsed: report.heapUsed, external: report.external };
  }

  async stop(): Promise<void> {
    await this.supervisor.stop('SIGTERM');
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

async function push(api: ApiServer, fleet: Fleet, release: Release, version: string): Promise<string> {
  return (await api.createRelease(fleet.name, release.compose, release.images, { version })).version;
}

async function idleFigures(
  api: ApiServer,
  docker: EngineClient,
  env: BenchEnv,
  images: FixtureImages,
  options: MemoryOptions,
): Promise<{ bareRss: number; supervisorRss: number }> {
  const fleet = await api.createFleet('bench-idle');
  const version = await push(api, fleet, fixtureRelease(images, images.meter), 'idle-1');
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore' });
  const device = await Device.start(api, docker, env, fleet);
  try {
    await device.converged(version);
    options.progress(`idle device converged release ${version}; settling ${options.settleMs / 1000} s`);
    await sleep(options.settleMs);
    const [bareRss = 0, supervisorRss = 0] = await medianRss([bare.pid ?? 0, device.pid], options.samples, 2_000);
    return { bareRss, supervisorRss };
  } finally {
    bare.kill('SIGKILL');
    await device.stop();
  }
}

/** Pushes releases until `until`, each replacing the meter (a new image or a new environment, alternately). */
async function pushReleases(
  device: Device,
  api: ApiServer,
  fleet: Fleet,
  images: FixtureImages,
  from: number,
  until: number,
  progress: (line: string) => void,
): Promise<number> {
  let releases = from;
  let nextLine = Date.now() + 60_000;
  while (Date.now() < until) {
    releases++;
    const meter = releases % 2 === 1 ? images.meterNext : images.meter;
    await device.converged(await push(api, fleet, fixtureRelease(images, meter, releases), `soak-${releases}`));
    if (Date.now() >= nextLine) {
      nextLine += 60_000;
      progress(`soak: ${releases} releases, RSS ${mb(await rssBytes(device.pid))} MB`);
    }
  }
  return releases;
}

interface SoakFigures {
  cold: Retained;
  start: Retained;
  end: Retained;
  releases: number;
  seconds: number;
}

async function soakFigures(
  api: ApiServer,
  docker: EngineClient,
  env: BenchEnv,
  images: FixtureImages,
  options: MemoryOptions,
): Promise<SoakFigures> {
  const fleet = await api.createFleet('bench-soak', { pollIntervalSeconds: 1 });
  const first = await push(api, fleet, fixtureRelease(images, images.meter), 'soak-0');
  const device = await Device.start(api, docker, env, fleet);
  try {
    await device.converged(first);
    await sleep(options.settleMs);
    const cold = await device.retained(options.samples);
    // Growth is measured from a warm process: JIT code, feedback vectors and bounded buffers (e.g. Node's 250
    // resource timing entries of fetch) fill in the first minutes and then stay; that is not a leak.
    const warmUpMs = Math.max(60_000, options.soakMinutes * 6_000);
    options.progress(
      `soak: warming up for ${warmUpMs / 60_000} min, then pushing releases for ${options.soakMinutes} min`,
    );
    const warmed = await pushReleases(device, api, fleet, images, 0, Date.now() + warmUpMs, options.progress);
    const start = await device.retained(options.samples);
    const started = Date.now();
    let releases = await pushReleases(
      device,
      api,
      fleet,
      images,
      warmed,
      started + options.soakMinutes * 60_000,
      options.progress,
    );
    const seconds = (Date.now() - started) / 1000;
    // Back to the first release's definition, so every sample is taken running the same containers.
    releases++;
    await device.converged(await push(api, fleet, fixtureRelease(images, images.meter), `soak-${releases}`));
    options.progress(
      `soak done: ${releases - warmed} releases in ${Math.round(seconds)} s after ${warmed} to warm up; ` +
        `settling ${options.settleMs / 1000} s`,
    );
    await sleep(options.settleMs);
    const end = await device.retained(options.samples);
    return { cold, start, end, releases: releases - warmed, seconds };
  } finally {
    await device.stop();
  }
}

export async function measureMemory(
  env: BenchEnv,
  docker: EngineClient,
  images: FixtureImages,
  options: MemoryOptions,
): Promise<MemoryFigures> {
  const api = await ApiServer.start({ registry: env.registry });
  try {
    await emptyDevice(docker);
    const idle = await idleFigures(api, docker, env, images, options);
    await emptyDevice(docker);
    const soak = await soakFigures(api, docker, env, images, options);
    return {
      bareRssBytes: idle.bareRss,
      supervisorRssBytes: idle.supervisorRss,
      soakCold: soak.cold,
      soakStart: soak.start,
      soakEnd: soak.end,
      soakReleases: soak.releases,
      soakSeconds: soak.seconds,
    };
  } finally {
    await api.stop();
    await emptyDevice(docker);
  }
}

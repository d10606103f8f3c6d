// The diagnostics bundle a device collects when an operator asks (protocol/device-actions.ts): what an operator
// would otherwise learn only by standing next to the box. Every part is bounded and collected with a deadline; a part
// that cannot be read says why, and never stops the others. No secrets leave: the config is copied by an allow-list.
import { execFile } from 'node:child_process';
import { readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import type { DiagnosticsBundle, Reachability } from '../../protocol/device-actions.js';
import { messageOf } from '../../lib/errors.js';
import { httpRequest } from '../../lib/http-request.js';
import type { Engine } from '../engine/engine.js';

/** Lines of kernel messages kept: the tail of the ring buffer, which is where a crash or undervoltage shows. */
export const KERNEL_TAIL_LINES = 200;
const KERNEL_LINE_CHARS = 1_000;
/** The deadline of every single probe: a bundle comes back within a minute even on a device in trouble. */
const PROBE_TIMEOUT_MS = 10_000;

/** The supervisor config fields a bundle may carry: none of them is a secret (the tokens and keys are not listed). */
const SAFE_CONFIG_KEYS = [
  'apiUrl',
  'fleet',
  'deviceType',
  'platform',
  'uuid',
  'name',
  'dockerHost',
  'apiSigningKey',
  'allowInsecureHttp',
  'releaseKeys',
  'localApiHost',
  'localApiPort',
  'rebootCommand',
] as const;

export interface DiagnosticsSources {
  uuid: string;
  supervisorVersion: string;
  config: Readonly<Record<string, unknown>>;
  engine: Engine;
  /** Directories whose file system's space matters (the data dir, the engine's root). */
  paths: readonly string[];
  /** The API's base URL: its /v1/info is fetched, timed, and its Date header gives the clock offset. */
  apiUrl: string;
  /** The registry's base URL (scheme://host:port), or null when the device has no target naming one yet. */
  registryUrl: string | null;
  /** The kernel message command (argv); `dmesg` by default. */
  dmesgCommand?: readonly string[];
  now?: () => Date;
}

export function safeConfig(config: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(SAFE_CONFIG_KEYS.filter((key) => config[key] !== undefined).map((k) => [k, config[k]]));
}

const clip = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 3)}...`);

async function memory(): Promise<DiagnosticsBundle['memory']> {
  let availableBytes: number | null = null;
  try {
    const meminfo = await readFile('/proc/meminfo', 'utf8');
    const kb = /^MemAvailable:\s+(\d+) kB$/m.exec(meminfo)?.[1];
    if (kb !== undefined) availableBytes = Number(kb) * 1024;
  } catch {
    // Not Linux, or /proc not mounted: total and free still say a lot.
  }
  return { totalBytes: os.totalmem(), freeBytes: os.freemem(), availableBytes };
}

async function disks(paths: readonly string[]): Promise<DiagnosticsBundle['disks']> {
  return Promise.all(
    [...new Set(paths)].slice(0, 8).map(async (path) => {
      try {
        const stats = await statfs(path);
        return { path, totalBytes: stats.blocks * stats.bsize, freeBytes: stats.bavail * stats.bsize };
      } catch (err) {
        return { path, unavailable: clip(messageOf(err), 1_000) };
      }
    }),
  );
}

/** The last kernel messages; where the kernel does not let this process read them (dmesg_restrict), says so. */
async function kernel(command: readonly string[]): Promise<DiagnosticsBundle['kernel']> {
  const [file, ...args] = command;
  if (file === undefined) return { unavailable: 'no kernel message command configured' };
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { timeout: PROBE_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          const why = clip(stderr.trim() || messageOf(err), 900);
          resolve({ unavailable: `the kernel messages cannot be read here (${command.join(' ')}): ${why}` });
          return;
        }
        const lines = stdout.split('\n').filter((line) => line.length > 0);
        resolve({ lines: lines.slice(-KERNEL_TAIL_LINES).map((line) => clip(line, KERNEL_LINE_CHARS)) });
      },
    );
  });
}

interface Timed {
  reach: Reachability;
  date: string | null;
  sentAt: number;
  receivedAt: number;
}

async function timedGet(target: Reachability['target'], url: string): Promise<Timed> {
  const sentAt = Date.now();
  try {
    const response = await httpRequest(url, { method: 'GET', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    await response.body?.cancel();
    const receivedAt = Date.now();
    return {
      reach: { target, url, status: response.status, ms: receivedAt - sentAt, error: null },
      date: response.headers.get('date'),
      sentAt,
      receivedAt,
    };
  } catch (err) {
    const receivedAt = Date.now();
    return {
      reach: { target, url, status: null, ms: receivedAt - sentAt, error: clip(messageOf(err), 1_000) },
      date: null,
      sentAt,
      receivedAt,
    };
  }
}

export async function collectDiagnostics(sources: DiagnosticsSources): Promise<DiagnosticsBundle> {
  const now = sources.now ?? (() => new Date());
  const engineInfo = async (): Promise<DiagnosticsBundle['engine']> => {
    if (sources.engine.info === undefined) return { unavailable: 'this engine client cannot describe its engine' };
    try {
      return await sources.engine.info();
    } catch (err) {
      return { unavailable: `the container engine does not answer: ${clip(messageOf(err), 900)}` };
    }
  };
  const api = `${sources.apiUrl.replace(/\/+$/, '')}/v1/info`;
  const [engine, mem, disk, kernelMessages, apiProbe, registryProbe] = await Promise.all([
    engineInfo(),
    memory(),
    disks(sources.paths),
    kernel(sources.dmesgCommand ?? ['dmesg']),
    timedGet('api', api),
    sources.registryUrl === null ? null : timedGet('registry', `${sources.registryUrl.replace(/\/+$/, '')}/v2/`),
  ]);
  // The Date header has a resolution of one second (the API's clock was somewhere in the second it names, on
  // average half-way); the midpoint of the round trip is when the API stamped it.
  const apiDate = apiProbe.date;
  const stamped = apiDate === null ? Number.NaN : Date.parse(apiDate);
  const midpoint = (apiProbe.sentAt + apiProbe.receivedAt) / 2;
  const clock = Number.isNaN(stamped)
    ? { offsetMs: null, uncertaintyMs: null, apiDate: null }
    : {
        offsetMs: Math.round(midpoint - (stamped + 500)),
        uncertaintyMs: Math.round((apiProbe.receivedAt - apiProbe.sentAt) / 2) + 500,
        apiDate: clip(apiDate ?? '', 64),
      };
  return {
    uuid: sources.uuid,
    collectedAt: now().toISOString(),
    supervisorVersion: sources.supervisorVersion,
    config: safeConfig(sources.config),
    engine,
    host: {
      hostname: clip(os.hostname(), 256),
      kernel: clip(`${os.type()} ${os.release()} ${os.arch()}`, 256),
      uptimeSeconds: os.uptime(),
      loadAverage: os.loadavg(),
    },
    memory: mem,
    disks: disk,
    kernel: kernelMessages,
    connectivity: registryProbe === null ? [apiProbe.reach] : [apiProbe.reach, registryProbe.reach],
    clock,
  };
}

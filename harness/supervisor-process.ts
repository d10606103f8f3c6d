// The supervisor as a real process (node dist/supervisor/main.js, with supervisor/launch.ts's flags), the way a
// device runs it: for tests that kill it, restart it, or talk to it over HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SupervisorConfig } from '../supervisor/config.js';
import { SUPERVISOR_ENV, SUPERVISOR_NODE_FLAGS } from '../supervisor/launch.js';
import { distRoot, type TestEnv } from './env.js';
import { TEST_API_SIGNING_KEY, TEST_DEVICE_UUID } from './supervisor-targets.js';

export const SUPERVISOR_MAIN = path.join(distRoot, 'supervisor', 'main.js');

/** Nothing listens there: a device with this API URL is offline. */
export const UNREACHABLE_API = 'http://127.0.0.1:9';

/**
 * The API's target signing key as an operator provisioning a device reads it: GET /v1/info of the API the device
 * will talk to (here on loopback, so the channel is trusted).
 */
export async function apiSigningKeyAt(apiUrl: string): Promise<string> {
  const answer = await fetch(`${apiUrl.replace(/\/+$/, '')}/v1/info`, { signal: AbortSignal.timeout(10_000) });
  if (!answer.ok) throw new Error(`GET ${apiUrl}/v1/info answered ${answer.status}: cannot pin the API's key`);
  const info = (await answer.json()) as { signingKey?: unknown };
  if (typeof info.signingKey !== 'string') throw new Error(`GET ${apiUrl}/v1/info has no signingKey to pin`);
  return info.signingKey;
}

/**
 * A device's data dir with its provisioning config. A config without apiSigningKey gets the key of the API it
 * names pinned, as every provisioning step must; an offline device's config (UNREACHABLE_API) is written as given.
 */
export async function makeDataDir(config: SupervisorConfig): Promise<string> {
  const pinned =
    config.apiSigningKey !== undefined || config.apiUrl === UNREACHABLE_API
      ? config
      : { ...config, apiSigningKey: await apiSigningKeyAt(config.apiUrl) };
  const dir = await mkdtemp(path.join(tmpdir(), 'skiff-device-'));
  await writeFile(path.join(dir, 'config.json'), `${JSON.stringify(pinned, null, 2)}\n`);
  return dir;
}

/** A device provisioned earlier, now offline: it has its uuid and trusts the test signing key. */
export function offlineDeviceConfig(env: TestEnv, extra: Partial<SupervisorConfig> = {}): SupervisorConfig {
  return {
    apiUrl: UNREACHABLE_API,
    fleet: 'meters',
    provisioningKey: 'provisioning-key-0123456789',
    deviceType: 'generic-amd64',
    uuid: TEST_DEVICE_UUID,
    dockerHost: env.deviceDockerHost,
    apiSigningKey: TEST_API_SIGNING_KEY,
    ...extra,
  };
}

export interface LogLine {
  msg?: string;
  level?: number;
  [key: string]: unknown;
}

export class SupervisorProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private readonly lines: LogLine[] = [];
  private raw = '';

  constructor(dataDir: string, env: Record<string, string> = {}) {
    // With the environment and node flags a device starts it with (supervisor/launch.ts).
    this.child = spawn(process.execPath, [...SUPERVISOR_NODE_FLAGS, SUPERVISOR_MAIN, '--data-dir', dataDir], {
      env: { ...process.env, ...SUPERVISOR_ENV, SKIFF_LOG_LEVEL: 'debug', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (chunk: string) => {
      this.raw += chunk;
      let newline: number;
      while ((newline = this.raw.indexOf('\n')) >= 0) {
        const line = this.raw.slice(0, newline);
        this.raw = this.raw.slice(newline + 1);
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          this.lines.push({ msg: line });
        }
      }
    });
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  logs(): LogLine[] {
    return [...this.lines];
  }

  /** The log as text, for assertion messages. */
  logText(): string {
    return this.lines.map((l) => JSON.stringify(l)).join('\n');
  }

  hasLogged(msg: string): boolean {
    return this.lines.some((l) => l.msg === msg);
  }

  /** Sends the signal and waits for the exit code (null when killed by the signal). */
  async stop(signal: NodeJS.Signals): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** For an afterEach hook: the supervisors' logs on stderr when the test failed, the only trace of why. */
export function printLogsIfFailed(test: Mocha.Test | undefined, ...processes: (SupervisorProcess | undefined)[]): void {
  if (test?.state !== 'failed') return;
  for (const p of processes) if (p !== undefined) console.error(`--- supervisor log ---\n${p.logText()}`);
}

/**
 * The supervisor processes and data dirs a suite starts: each test's processes are killed after it (logs printed
 * when it failed), the data dirs are removed after the suite.
 */
export class SupervisorProcesses {
  private readonly running: SupervisorProcess[] = [];
  private readonly dataDirs: string[] = [];

  start(dataDir: string, env: Record<string, string> = {}): SupervisorProcess {
    const p = new SupervisorProcess(dataDir, env);
    this.running.push(p);
    return p;
  }

  async dataDir(config: SupervisorConfig): Promise<string> {
    const dir = await makeDataDir(config);
    this.dataDirs.push(dir);
    return dir;
  }

  /** For afterEach: SIGKILLs every process started since the last call, after printing their logs if `test` failed. */
  async stopAll(test: Mocha.Test | undefined): Promise<void> {
    const running = this.running.splice(0);
    printLogsIfFailed(test, ...running);
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
  }

  async removeDataDirs(): Promise<void> {
    await Promise.all(this.dataDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  }
}

// The supervisor as a real process (node dist/supervisor/main.js), the way a device runs it: for tests that kill
// it, restart it, or talk to it over HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { distRoot } from './env.js';

export const SUPERVISOR_MAIN = path.join(distRoot, 'supervisor', 'main.js');

export async function makeDataDir(config: SupervisorConfig): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'skiff-device-'));
  await writeFile(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  return dir;
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
    this.child = spawn(process.execPath, [SUPERVISOR_MAIN, '--data-dir', dataDir], {
      env: { ...process.env, SKIFF_LOG_LEVEL: 'debug', ...env },
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

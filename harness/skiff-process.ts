// The `skiff` CLI as a real process (node DIST/cli/main.js), as the API's admin: for commands that run until they
// are stopped (`logs --follow`) and for what a person sees, exit code and stderr included.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { ApiServer } from './api-server.js';
import { distRoot } from './env.js';

export const SKIFF_MAIN = path.join(distRoot, 'cli', 'main.js');

export class SkiffProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stdout = '';
  stderr = '';

  constructor(api: ApiServer, args: string[]) {
    this.child = spawn(process.execPath, [SKIFF_MAIN, ...args], {
      env: { PATH: process.env.PATH ?? '', SKIFF_API_URL: api.url, SKIFF_API_TOKEN: api.adminToken, HOME: api.dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.setEncoding('utf8');
    this.child.stderr?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => {
      this.stdout += chunk;
    });
    this.child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /** The complete lines printed on stdout so far. */
  lines(): string[] {
    const lines = this.stdout.split('\n');
    lines.pop();
    return lines;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** Runs `skiff ...args` to its end: exit code, stdout, stderr. */
export async function runSkiff(
  api: ApiServer,
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = new SkiffProcess(api, args);
  const code = await run.exited;
  return { code, stdout: run.stdout, stderr: run.stderr };
}

// A server under benchmark in a process of its own (the API, bare Koa): started, waited for until it answers,
// and stopped with SIGTERM, its stderr kept for when it fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { sleep } from './stats.js';

export interface ServerProcess {
  url: string;
  pid: number;
  /** CPU seconds (user + system) the process has used so far. */
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

/** Linux reports process times in clock ticks; USER_HZ is 100 on every architecture Debian ships. */
const TICKS_PER_SECOND = 100;

async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at field 3; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

export interface ServerStart {
  /** What it is, for messages. */
  name: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  port: number;
  /** A path that answers once the server is up. */
  readyPath: string;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
}

export async function startServer(start: ServerStart): Promise<ServerProcess> {
  const child: ChildProcess = spawn(process.execPath, [...(start.nodeFlags ?? []), ...start.args], {
    env: { ...process.env, ...start.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${start.port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`${start.name} exited with ${child.exitCode} before answering: ${stderr}`);
    try {
      const response = await fetch(`${url}${start.readyPath}`);
      await response.arrayBuffer();
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${start.name} did not answer ${start.readyPath} on ${url} within 30 s: ${stderr}`);
    }
    await sleep(100);
  }
  return {
    url,
    pid: child.pid ?? -1,
    cpuSeconds: () => cpuSecondsOf(child.pid ?? -1),
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      // Cleared once the process is gone: a timer left pending would keep the bench alive after its result.
      const grace = setTimeout(() => child.kill('SIGKILL'), 15_000);
      try {
        await exited;
      } finally {
        clearTimeout(grace);
      }
    },
  };
}

// Resident memory of a process as the kernel counts it (VmRSS in /proc/PID/status): what a 1 GB Raspberry Pi
// actually loses to it, native buffers and malloc arenas included, not just the JS heap.
import { readFile } from 'node:fs/promises';
import { median, sleep } from './stats.js';

export async function rssBytes(pid: number): Promise<number> {
  const file = `/proc/${pid}/status`;
  const status = await readFile(file, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS in ${file} (has the process exited?)`);
  return Number(match[1]) * 1024;
}

/**
 * Samples every pid `count` times, `everyMs` apart, and returns each pid's median. The processes are sampled in
 * the same instants, so a machine-wide hiccup touches all of them alike.
 */
export async function medianRss(pids: readonly number[], count: number, everyMs: number): Promise<number[]> {
  const samples: number[][] = pids.map(() => []);
  for (let i = 0; i < count; i++) {
    if (i > 0) await sleep(everyMs);
    const now = await Promise.all(pids.map(rssBytes));
    now.forEach((bytes, j) => {
      samples[j]?.push(bytes);
    });
  }
  return samples.map((s) => median(s));
}

/** VmRSS split as the kernel counts it: anonymous memory (heaps, malloc) and mapped files (the node binary's pages). */
export async function rssParts(pid: number): Promise<{ anon: number; file: number }> {
  const file = `/proc/${pid}/status`;
  const status = await readFile(file, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+)\\s+kB$`, 'm').exec(status);
    if (match === null) throw new Error(`no ${name} in ${file} (has the process exited?)`);
    return Number(match[1]) * 1024;
  };
  return { anon: field('RssAnon'), file: field('RssFile') };
}

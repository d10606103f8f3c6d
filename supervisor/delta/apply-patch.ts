// Applying a layer patch with the same CLI the server made it with, then proving the result: the output must hash
// to the diffID the patch promises, or it is thrown away (the engine would refuse it on load anyway, but later and
// for the whole image).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import type { DeltaTool } from '../../protocol/delta.js';

/** The source window the server's xdelta3 used (registry-api/delta/patch-tool.ts): ~86 MB to apply. */
const XDELTA3_WINDOW = 64 * 1024 * 1024;

function run(command: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString('utf8')).slice(-2000); });
    child.on('error', (err) => reject(new Error(`${what}: cannot start ${command}: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${what}: ${command} ${signal === null ? `exited ${code}` : `was killed by ${signal}`}: ${stderr.trim()}`));
    });
  });
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

export interface PatchApplication {
  tool: DeltaTool;
  base: string;
  patch: string;
  out: string;
  /** diffID the output must have. */
  toDiffId: string;
}

/** Writes the patched layer to `out`; returns its size. Throws (and leaves no output) when it is not the layer. */
export async function applyPatch(job: PatchApplication): Promise<number> {
  const what = `applying patch ${job.patch} to ${job.base}`;
  try {
    if (job.tool === 'zstd') {
      // --long=31 only lifts the memory cap; zstd allocates the window the patch's frame asks for.
      await run('zstd', ['-q', '-d', '-f', '--long=31', `--patch-from=${job.base}`, job.patch, '-o', job.out], what);
    } else {
      await run('xdelta3', ['-d', '-f', '-B', String(XDELTA3_WINDOW), '-s', job.base, job.patch, job.out], what);
    }
    const actual = await sha256File(job.out);
    if (actual !== job.toDiffId) throw new Error(`${what}: the result hashes to ${actual}, not ${job.toDiffId}`);
    return (await stat(job.out)).size;
  } catch (err) {
    await unlink(job.out).catch(() => undefined);
    throw err;
  }
}

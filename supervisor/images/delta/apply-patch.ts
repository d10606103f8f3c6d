// Applying a layer patch with the same CLI the server made it with, then proving the result: the output must hash
// to the diffID the patch promises, or it is thrown away (the engine would refuse it on load anyway, but later and
// for the whole image).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { XDELTA3_WINDOW, type DeltaTool } from '../../../protocol/delta.js';
import { runTool } from '../../../lib/run-tool.js';

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
      await runTool(
        'zstd',
        ['-q', '-d', '-f', '--long=31', `--patch-from=${job.base}`, job.patch, '-o', job.out],
        what,
      );
    } else {
      await runTool('xdelta3', ['-d', '-f', '-B', String(XDELTA3_WINDOW), '-s', job.base, job.patch, job.out], what);
    }
    const actual = await sha256File(job.out);
    if (actual !== job.toDiffId) throw new Error(`${what}: the result hashes to ${actual}, not ${job.toDiffId}`);
    return (await stat(job.out)).size;
  } catch (err) {
    await unlink(job.out).catch(() => undefined);
    throw err;
  }
}

// Computing a binary patch with Debian's zstd or xdelta3 CLI (no native addon to build, and they stream from files).
// The tool is chosen for the device's memory, not for the smallest patch: applying a zstd patch holds about twice
// the base layer in memory, xdelta3 with a 64 MiB source window stays near 86 MB (measured, see
// notes/image-delivery.md), and a Raspberry Pi may have 1 GB for everything.
import { XDELTA3_WINDOW, type DeltaTool } from '../../../protocol/delta.js';
import { runTool } from '../../../lib/run-tool.js';

/** Largest base layer patched with zstd: about 256 MB to apply. Larger bases go to xdelta3. */
export const ZSTD_MAX_BASE_BYTES = 128 * 1024 * 1024;

export function toolFor(baseBytes: number): DeltaTool {
  return baseBytes <= ZSTD_MAX_BASE_BYTES ? 'zstd' : 'xdelta3';
}

/** zstd's window must cover the base and the target: the smallest power of two that does. */
export function zstdWindowLog(baseBytes: number, targetBytes: number): number {
  return Math.min(31, Math.max(20, Math.ceil(Math.log2(Math.max(1, baseBytes, targetBytes) + 1))));
}

export interface PatchJob {
  tool: DeltaTool;
  base: { path: string; size: number };
  target: { path: string; size: number };
  out: string;
  /** zstd level (1-19); 19 by default: the server pays once, every device saves. */
  level?: number;
}

export async function makePatch(job: PatchJob): Promise<void> {
  const what = `patch ${job.base.path} -> ${job.target.path}`;
  if (job.tool === 'zstd') {
    const windowLog = zstdWindowLog(job.base.size, job.target.size);
    await runTool(
      'zstd',
      [
        '-q',
        '-f',
        `-${job.level ?? 19}`,
        `--long=${windowLog}`,
        `--patch-from=${job.base.path}`,
        job.target.path,
        '-o',
        job.out,
      ],
      what,
    );
  } else {
    await runTool(
      'xdelta3',
      ['-e', '-f', '-9', '-B', String(XDELTA3_WINDOW), '-s', job.base.path, job.target.path, job.out],
      what,
    );
  }
}

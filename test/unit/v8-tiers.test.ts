import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { distRoot } from '../../harness/env.js';

const run = promisify(execFile);

/** V8's optimisation status bit for "optimised code" (TurboFan here, Maglev too on Node 22). */
const OPTIMIZED = 1 << 4;

/** Runs a hot function in a fresh node, after capOptimisingTiers() if `cap`, and returns its V8 status bits. */
async function statusOfHotFunction(
  cap: boolean,
  nodeFlags: string[] = [],
): Promise<{ status: number; capped: boolean | null }> {
  const script = `
    const { capOptimisingTiers } = await import(${JSON.stringify(path.join(distRoot, 'supervisor', 'v8-tiers.js'))});
    const capped = ${cap} ? capOptimisingTiers() : null;
    function hot(x) { let s = 0; for (let i = 0; i < 100; i++) s += (x * i) % 7; return s; }
    let total = 0;
    for (let i = 0; i < 300000; i++) total += hot(i);
    process.stdout.write(JSON.stringify({ status: %GetOptimizationStatus(hot), capped, total }));`;
  const { stdout } = await run(process.execPath, [
    '--allow-natives-syntax',
    ...nodeFlags,
    '--input-type=module',
    '-e',
    script,
  ]);
  return JSON.parse(stdout) as { status: number; capped: boolean | null };
}

describe('V8 tiers of the supervisor', function () {
  this.timeout(30_000);

  it('without the cap V8 optimises a hot function (the check can tell)', async () => {
    const { status } = await statusOfHotFunction(false);
    assert.ok((status & OPTIMIZED) !== 0, `status ${status.toString(2)}`);
  });

  it('capped after start, the same hot function is never optimised', async () => {
    const { status, capped } = await statusOfHotFunction(true);
    assert.equal(capped, true);
    assert.equal(status & OPTIMIZED, 0, `status ${status.toString(2)}`);
  });

  it("a --max-opt on node's command line wins over the cap", async () => {
    const { status, capped } = await statusOfHotFunction(true, ['--max-opt=3']);
    assert.equal(capped, false);
    assert.ok((status & OPTIMIZED) !== 0, `status ${status.toString(2)}`);
  });
});

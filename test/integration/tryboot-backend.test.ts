// The Raspberry Pi tryboot backend (os-image/bootloader/tryboot-backend.sh) run as RAUC runs it, against files
// standing in for autoboot.txt and /proc/device-tree/chosen/bootloader; `reboot` is a script recording its argument.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../harness/env.js';

const run = promisify(execFile);
const backend = path.join(repoRoot, 'os-image', 'bootloader', 'tryboot-backend.sh');

describe('tryboot bootloader backend', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;

  async function call(...args: string[]): Promise<string> {
    return (await run(backend, args, { env })).stdout.trim();
  }

  /** What the firmware tells the OS: the partition booted and whether this is a trial boot. */
  async function firmwareBooted(partition: number, trial: boolean): Promise<void> {
    const cell = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      return b;
    };
    await writeFile(path.join(dir, 'dt', 'partition'), cell(partition));
    await writeFile(path.join(dir, 'dt', 'tryboot'), cell(trial ? 1 : 0));
  }

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'skiff-tryboot-'));
    await mkdir(path.join(dir, 'dt'));
    await writeFile(
      path.join(dir, 'autoboot.txt'),
      '[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n',
    );
    await writeFile(path.join(dir, 'reboot'), `#!/bin/sh\necho "$*" >"${dir}/rebooted"\n`);
    await chmod(path.join(dir, 'reboot'), 0o755);
    env = {
      ...process.env,
      SKIFF_AUTOBOOT: path.join(dir, 'autoboot.txt'),
      SKIFF_DT_BOOTLOADER: path.join(dir, 'dt'),
      SKIFF_TRYBOOT_STATE: path.join(dir, 'state'),
      SKIFF_REBOOT: path.join(dir, 'reboot'),
    };
    await firmwareBooted(2, false);
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('arms a one-shot trial of the other slot and commits it by rewriting autoboot.txt', async () => {
    assert.equal(await call('get-primary'), 'A');
    assert.equal(await call('get-current'), 'A');
    await call('set-state', 'B', 'bad');
    await call('set-primary', 'B');
    assert.equal(await call('get-primary'), 'B');
    assert.equal(await call('get-state', 'B'), 'good');
    await call('reboot');
    assert.equal((await readFile(path.join(dir, 'rebooted'), 'utf8')).trim(), '0 tryboot');
    await firmwareBooted(3, true);
    assert.equal(await call('get-current'), 'B');
    assert.equal(await call('get-primary'), 'A', 'until committed, a reset boots A');
    await call('set-state', 'B', 'good');
    assert.equal(
      await readFile(path.join(dir, 'autoboot.txt'), 'utf8'),
      '[all]\ntryboot_a_b=1\nboot_partition=3\n[tryboot]\nboot_partition=2\n',
    );
    assert.equal(await call('get-primary'), 'B');
  });

  it('a trial marked bad leaves autoboot.txt alone and the next plain reboot is back on A', async () => {
    await call('set-primary', 'B');
    await call('reboot');
    await firmwareBooted(3, true);
    await call('set-state', 'B', 'bad');
    assert.equal(await call('get-state', 'B'), 'bad');
    assert.equal(await call('get-primary'), 'A');
    await call('reboot');
    assert.equal((await readFile(path.join(dir, 'rebooted'), 'utf8')).trim(), '');
    assert.match(await readFile(path.join(dir, 'autoboot.txt'), 'utf8'), /\[all\]\ntryboot_a_b=1\nboot_partition=2\n/);
  });

  it('says what is wrong when booted by a firmware without tryboot', async () => {
    await rm(path.join(dir, 'dt', 'tryboot'));
    await assert.rejects(call('set-state', 'A', 'good'), /no .*dt\/tryboot: not booted by a tryboot-capable firmware/);
  });
});

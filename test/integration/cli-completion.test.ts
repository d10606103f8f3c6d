// Shell completion as a person meets it: the script `skiff completion bash|zsh` prints, sourced by the real shell,
// asked for what follows the words typed so far.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

const scripts: Record<string, string> = {};

/** What the shell offers after `typed` (the last word is the one being completed). */
async function offered(shell: 'bash' | 'zsh', typed: string[]): Promise<string[]> {
  const words = typed.map((w) => `'${w}'`).join(' ');
  const script = [
    `source '${scripts[shell]}'`,
    `COMP_WORDS=(${words})`,
    `COMP_CWORD=${typed.length - 1}`,
    '_skiff',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const { stdout } = await run(shell, ['-c', script], { env: { ...process.env, HOME: '/nonexistent' } });
  return stdout.split('\n').filter((w) => w !== '');
}

describe('shell completion (integration)', function () {
  this.timeout(60_000);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'skiff-completion-'));
    for (const shell of ['bash', 'zsh']) {
      scripts[shell] = path.join(dir, `skiff.${shell}`);
      await writeFile(scripts[shell], (await run('node', [CLI, 'completion', shell])).stdout);
    }
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const shell of ['bash', 'zsh'] as const) {
    it(`${shell}: completes commands, subcommands, options and fixed values`, async () => {
      assert.deepEqual(await offered(shell, ['skiff', 'dev']), ['device-types', 'devices', 'device']);
      assert.ok((await offered(shell, ['skiff', 'device', ''])).includes('revoke'));
      assert.deepEqual(await offered(shell, ['skiff', 'device', 'p']), ['pin', 'preauthorize']);
      assert.deepEqual(await offered(shell, ['skiff', 'devices', '--status', 'p']), ['preauthorized', 'pending']);
      assert.deepEqual(await offered(shell, ['skiff', 'devices', '--fleet', 'meters', '--st']), ['--status']);
      assert.deepEqual(await offered(shell, ['skiff', 'completion', '']), ['bash', 'zsh', '--help']);
    });
  }

  it('refuses a shell it has no script for, naming the ones it has', async () => {
    await assert.rejects(run('node', [CLI, 'completion', 'fish']), (err: Error & { stderr?: string }) => {
      assert.match(err.stderr ?? '', /<shell>.*'fish'.*use one of bash, zsh/);
      return true;
    });
  });
});

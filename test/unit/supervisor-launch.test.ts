// Where a person or a script starts the supervisor, it starts with the environment and flags of
// supervisor/launch.ts: they take effect only from the process's start, so a copy that drifted would go unnoticed
// until a device ran several MB larger (bench:supervisor).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SUPERVISOR_ENV, SUPERVISOR_NODE_FLAGS, supervisorCommandLine } from '../../supervisor/launch.js';
import { repoRoot } from '../../harness/env.js';

describe('how the supervisor is started', () => {
  it("README's command for devices is the one supervisor/launch.ts makes", async () => {
    const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
    const line = `${supervisorCommandLine('dist/supervisor/main.js')} --data-dir /var/lib/skiff`;
    assert.ok(readme.includes(`\`${line}\``), `README.md should show \`${line}\``);
  });

  it("make demo's device starts with the same environment and flags", async () => {
    const demo = await readFile(path.join(repoRoot, 'scripts', 'demo.sh'), 'utf8');
    const start = demo.split('\n').findIndex((l) => l.includes('dist/supervisor/main.js'));
    // The command may continue over the lines before it (backslash continuations).
    const command = demo
      .split('\n')
      .slice(Math.max(0, start - 3), start + 1)
      .join(' ');
    assert.ok(
      command.includes(`node ${SUPERVISOR_NODE_FLAGS.join(' ')} "$dist/supervisor/main.js"`),
      `node ${SUPERVISOR_NODE_FLAGS.join(' ')} in: ${command}`,
    );
    for (const [name, value] of Object.entries(SUPERVISOR_ENV))
      assert.ok(command.includes(` ${name}=${value} `), `${name}=${value} in: ${command}`);
  });
});

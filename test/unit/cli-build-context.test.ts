import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isExcluded, listContextFiles, parseDockerignore } from '../../cli/push/build-context.js';

describe('cli build context', () => {
  describe('.dockerignore rules', () => {
    const rules = parseDockerignore(
      [
        '# comment',
        '',
        'node_modules',
        '*.env',
        '/build/',
        'docs/**/*.md',
        '!docs/keep/README.md',
        'tmp?',
        '**/*.log',
      ].join('\n'),
    );

    it('excludes a match and everything under a matched folder', () => {
      assert.equal(isExcluded(rules, 'node_modules'), true);
      assert.equal(isExcluded(rules, 'node_modules/x/index.js'), true);
      assert.equal(isExcluded(rules, 'build/out.bin'), true);
      assert.equal(isExcluded(rules, 'src/build/out.bin'), false);
    });

    it("keeps '*' and '?' inside one path segment and lets '**' span folders", () => {
      assert.equal(isExcluded(rules, 'prod.env'), true);
      assert.equal(isExcluded(rules, 'config/prod.env'), false);
      assert.equal(isExcluded(rules, 'tmp1'), true);
      assert.equal(isExcluded(rules, 'tmp12'), false);
      assert.equal(isExcluded(rules, 'docs/a.md'), true);
      assert.equal(isExcluded(rules, 'docs/deep/er/a.md'), true);
      assert.equal(isExcluded(rules, 'app.log'), true);
      assert.equal(isExcluded(rules, 'var/app.log'), true);
      assert.equal(isExcluded(rules, 'src/main.ts'), false);
    });

    it("lets a later '!' rule bring a file back", () => {
      assert.equal(isExcluded(rules, 'docs/keep/README.md'), false);
      assert.equal(isExcluded(rules, 'docs/keep/OTHER.md'), true);
    });
  });

  describe('listContextFiles', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-cli-context-'));
      await mkdir(path.join(dir, 'src'), { recursive: true });
      await mkdir(path.join(dir, 'node_modules', 'dep'), { recursive: true });
      await mkdir(path.join(dir, 'empty'));
      await writeFile(path.join(dir, 'Dockerfile'), 'FROM scratch\n');
      await writeFile(path.join(dir, 'src', 'main.js'), '');
      await writeFile(path.join(dir, 'node_modules', 'dep', 'index.js'), '');
      await writeFile(path.join(dir, 'secret.env'), '');
      await symlink('main.js', path.join(dir, 'src', 'link.js'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('sends everything when there is no .dockerignore, symlinks and empty folders included', async () => {
      assert.deepEqual(await listContextFiles(dir, 'Dockerfile'), [
        'Dockerfile',
        'empty',
        'node_modules/dep/index.js',
        'secret.env',
        'src/link.js',
        'src/main.js',
      ]);
    });

    it('leaves out what .dockerignore excludes', async () => {
      await writeFile(path.join(dir, '.dockerignore'), 'node_modules\n*.env\nempty\n');
      assert.deepEqual(await listContextFiles(dir, 'Dockerfile'), [
        '.dockerignore',
        'Dockerfile',
        'src/link.js',
        'src/main.js',
      ]);
    });

    it('refuses a .dockerignore that excludes the Dockerfile', async () => {
      await writeFile(path.join(dir, '.dockerignore'), 'Dockerfile\n');
      await assert.rejects(listContextFiles(dir, 'Dockerfile'), /excludes the Dockerfile/);
    });
  });
});

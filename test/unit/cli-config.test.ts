import assert from 'node:assert/strict';
import { mkdtemp, readFile, stat, writeFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { configPath, normalizeApiUrl, readConfigFile, resolveConfig, writeConfigFile } from '../../cli/config.js';

describe('cli config', () => {
  describe('resolveConfig', () => {
    const file = { apiUrl: 'http://file:1', apiToken: 'file-token' };
    const env = { SKIFF_API_URL: 'http://env:2', SKIFF_API_TOKEN: 'env-token' };

    it('prefers flags over the environment over the file', () => {
      const r = resolveConfig({ flags: { api: 'http://flag:3', token: 'flag-token' }, env, file });
      assert.deepEqual(r, {
        apiUrl: { value: 'http://flag:3', source: 'flag' },
        apiToken: { value: 'flag-token', source: 'flag' },
      });
    });

    it('falls back to the environment, then the file, setting by setting', () => {
      const r = resolveConfig({ flags: { token: 'flag-token' }, env: { SKIFF_API_URL: 'http://env:2' }, file });
      assert.deepEqual(r.apiUrl, { value: 'http://env:2', source: 'env' });
      assert.deepEqual(r.apiToken, { value: 'flag-token', source: 'flag' });
      const fromFile = resolveConfig({ flags: {}, env: {}, file });
      assert.deepEqual(fromFile.apiUrl, { value: 'http://file:1', source: 'file' });
      assert.deepEqual(fromFile.apiToken, { value: 'file-token', source: 'file' });
    });

    it('treats empty values as unset and reports nothing when nothing is set', () => {
      const r = resolveConfig({
        flags: { api: '' },
        env: { SKIFF_API_URL: '', SKIFF_API_TOKEN: '' },
        file: { apiUrl: 'http://file:1' },
      });
      assert.deepEqual(r.apiUrl, { value: 'http://file:1', source: 'file' });
      assert.equal(r.apiToken, null);
    });
  });

  describe('configPath', () => {
    it('uses SKIFF_CONFIG, else XDG_CONFIG_HOME, else ~/.config', () => {
      assert.equal(configPath({ SKIFF_CONFIG: '/x/c.json', XDG_CONFIG_HOME: '/xdg' }), '/x/c.json');
      assert.equal(configPath({ XDG_CONFIG_HOME: '/xdg' }), '/xdg/skiff/config.json');
      assert.equal(configPath({}), path.join(os.homedir(), '.config', 'skiff', 'config.json'));
    });
  });

  describe('config file', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-cli-config-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('is written with mode 0600 in a new folder and read back', async () => {
      const file = path.join(dir, 'nested', 'config.json');
      await writeConfigFile(file, { apiUrl: 'http://a:1', apiToken: 'secret' });
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.deepEqual(await readConfigFile(file), { apiUrl: 'http://a:1', apiToken: 'secret' });
    });

    it('tightens the mode of an existing, too open file when rewritten', async () => {
      const file = path.join(dir, 'config.json');
      await writeFile(file, '{}', { mode: 0o644 });
      await writeConfigFile(file, { apiToken: 't' });
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { apiToken: 't' });
    });

    it('reads as empty when absent, and fails naming the file when damaged', async () => {
      assert.deepEqual(await readConfigFile(path.join(dir, 'none.json')), {});
      const bad = path.join(dir, 'bad.json');
      await writeFile(bad, '{"apiUrl": 3}');
      await assert.rejects(
        readConfigFile(bad),
        (err: Error) => err.message.includes(bad) && err.message.includes('/apiUrl'),
      );
      await writeFile(bad, 'not json');
      await assert.rejects(readConfigFile(bad), /is not JSON/);
    });
  });

  describe('normalizeApiUrl', () => {
    it('drops trailing slashes and refuses what is not http(s)', () => {
      assert.equal(normalizeApiUrl('http://127.0.0.1:8080/'), 'http://127.0.0.1:8080');
      assert.equal(normalizeApiUrl('https://api.example/base//'), 'https://api.example/base');
      assert.throws(() => normalizeApiUrl('127.0.0.1:8080'), /not a URL|http/);
      assert.throws(() => normalizeApiUrl('ftp://x'), /http:\/\/ or https:\/\//);
    });
  });
});

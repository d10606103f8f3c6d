// Files travel with the release: a compose file as people write it (tagged images from a registry standing in for a
// public one, relative binds, a config and a secret) pushed unchanged with `skiff push --wait` and run by a real
// supervisor. The files are packed by the CLI, stored by the API, fetched by the device from the API alone, and
// are in the containers with their content and modes; a folder missing at push is state that survives releases.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Release } from '../../protocol/api.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { ApiProblemError } from '../../cli/api-client.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { runSkiff } from '../../harness/skiff-process.js';
import { SourceRegistry } from '../../harness/source-registry.js';
import { cleanDevice, deviceDocker, eventually, execIn, managedContainers } from '../../harness/supervisor-device.js';
import { makeDataDir, printLogsIfFailed, SupervisorProcess } from '../../harness/supervisor-process.js';

const env = loadTestEnv();
const docker = deviceDocker(env);

const SECRET = 's3cret-do-not-log';

describe('files that travel with the release', function () {
  this.timeout(300_000);
  let api: ApiServer;
  let source: SourceRegistry;
  let device: SupervisorProcess | undefined;
  let dataDir: string;
  let appTag: string;
  const dirs: string[] = [];

  function compose(profileLine = ''): string {
    return [
      'services:',
      '  app:',
      `    image: ${appTag}`,
      '    restart: always',
      '    volumes:',
      '      - ./config:/etc/app',
      '      - type: bind',
      '        source: ./motd.txt',
      '        target: /etc/motd',
      '      - ./data:/var/lib/app',
      '    configs:',
      '      - broker',
      '    secrets:',
      '      - db_password',
      '  debug:',
      `    image: ${appTag}`,
      '    profiles: [debug]',
      profileLine,
      'configs:',
      '  broker:',
      '    file: ./broker.conf',
      'secrets:',
      '  db_password:',
      '    file: ./db-password.txt',
      '',
    ].join('\n');
  }

  before(async () => {
    source = await SourceRegistry.start();
    const app = await buildTestImage({ devDockerHost: env.devDockerHost, registry: source.address }, { repo: 'app' });
    appTag = await source.tag(app, '1.0');
    api = await ApiServer.start({ registry: env.registry });
    await cleanDevice(docker);
  });

  afterEach(function () {
    printLogsIfFailed(this.currentTest, device);
  });

  after(async () => {
    await device?.stop('SIGKILL');
    await api?.stop();
    await source?.stop();
    await cleanDevice(docker);
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  async function project(): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'skiff-release-files-'));
    dirs.push(dir);
    await writeFile(path.join(dir, 'docker-compose.yml'), compose());
    await mkdir(path.join(dir, 'config', 'rules'), { recursive: true });
    await writeFile(path.join(dir, 'config', 'app.ini'), '[app]\nlevel = info\n');
    await writeFile(path.join(dir, 'config', 'rules', 'alerts.yml'), 'alert: high\n');
    await writeFile(path.join(dir, 'motd.txt'), 'welcome\n');
    await writeFile(path.join(dir, 'broker.conf'), 'listener 1883\n');
    await writeFile(path.join(dir, 'db-password.txt'), SECRET);
    return dir;
  }

  async function appContainer(): Promise<string> {
    const app = (await managedContainers(docker)).find((c) => c.service === 'app');
    assert.ok(app, 'the app container runs');
    return app.id;
  }

  async function sh(id: string, script: string): Promise<string> {
    const run = await execIn(docker, id, ['sh', '-c', script]);
    assert.equal(run.exitCode, 0, run.output);
    return run.output.replace(/\r\n/g, '\n');
  }

  it('the API checks what it is sent: digest, size, and that every file a release mounts was uploaded', async () => {
    const fleet = await api.createFleet('checks');
    const content = Buffer.from('listener 1883\n');
    const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
    const problemOf = async (work: Promise<unknown>): Promise<{ status: number; detail: string }> => {
      try {
        await work;
      } catch (err) {
        assert.ok(err instanceof ApiProblemError, String(err));
        return { status: err.problem.status, detail: err.problem.detail };
      }
      assert.fail('the API took it');
    };
    const wrong = await problemOf(api.admin.uploadReleaseFile(fleet.name, `sha256:${'0'.repeat(64)}`, content));
    assert.equal(wrong.status, 400);
    assert.match(wrong.detail, new RegExp(`the 14 bytes sent hash to ${digest}, not the digest named`));
    const big = await problemOf(api.admin.uploadReleaseFile(fleet.name, digest, Buffer.alloc(1024 * 1024 + 1)));
    assert.equal(big.status, 413);

    const compose = `services:\n  app:\n    image: ${env.registry}/x/app@sha256:${'a'.repeat(64)}\n    configs: [broker]\nconfigs:\n  broker:\n    file: ./broker.conf\n`;
    const files = { 'broker.conf': { kind: 'file' as const, digest, size: content.length } };
    const missing = await problemOf(api.admin.createRelease(fleet.name, { compose, images: {}, files }));
    assert.equal(missing.status, 409);
    assert.match(missing.detail, /1 file\(s\) the release mounts were not uploaded to fleet 'checks'/);

    assert.equal((await api.admin.uploadReleaseFile(fleet.name, digest, content)).created, true);
    assert.equal((await api.admin.uploadReleaseFile(fleet.name, digest, content)).created, false);
    const release = await api.admin.createRelease(fleet.name, { compose, images: {}, files });
    assert.equal(release.fleet, fleet.name);
  });

  it('a file larger than a release carries is refused before anything is pushed, naming it', async () => {
    const fleet = await api.createFleet('toolarge');
    const dir = await project();
    await writeFile(path.join(dir, 'config', 'big.bin'), Buffer.alloc(1024 * 1024 + 1));
    const run = await runSkiff(api, 'push', dir, '--fleet', fleet.name, '--docker-host', env.devDockerHost);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /'\.\/config\/big\.bin' is 1024 KiB; a file a release carries is at most 1024 KiB/);
    assert.deepEqual(await api.admin.listReleases(fleet.name), []);
  });

  it('pushed unchanged with --wait, runs on a device with its files, config and secret; state survives releases', async () => {
    const fleet = await api.createFleet('files');
    const config: SupervisorConfig = {
      apiUrl: api.url,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: 'raspberrypi4-64',
      dockerHost: env.deviceDockerHost,
      localApiPort: 0,
    };
    dataDir = await makeDataDir(config);
    dirs.push(dataDir);
    device = new SupervisorProcess(dataDir, { SKIFF_POLL_INTERVAL_MS: '2000', SKIFF_REPORT_INTERVAL_MS: '500' });
    const uuid = await eventually(
      'the device to pick its uuid',
      20_000,
      async () => (JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig).uuid,
    );
    await eventually('the device to be admitted', 20_000, async () =>
      (await api.admin.listDevices(fleet.name)).some((d) => d.uuid === uuid) ? true : undefined,
    );

    const dir = await project();
    const published = (await source.accessLog()).length;
    const push = await runSkiff(
      api,
      'push',
      dir,
      '--fleet',
      fleet.name,
      '--docker-host',
      env.devDockerHost,
      '--wait',
      '--timeout',
      '150',
      '--json',
    );
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
    assert.doesNotMatch(push.stderr, /\[debug\]/, 'the service of a profile not enabled is not copied');
    assert.match(push.stderr, /files: 5 in the release, 5 uploaded \(\d+ bytes\), 0 already there/);
    const release = JSON.parse(push.stdout) as Release;

    // Only the profile-less service runs; the debug profile was not enabled.
    const running = await managedContainers(docker);
    assert.deepEqual(running.map((c) => c.service).sort(), ['app']);
    const id = await appContainer();
    assert.equal(await sh(id, 'cat /etc/app/app.ini /etc/app/rules/alerts.yml'), '[app]\nlevel = info\nalert: high\n');
    assert.equal(await sh(id, 'cat /etc/motd /broker'), 'welcome\nlistener 1883\n');
    assert.equal(await sh(id, 'cat /run/secrets/db_password'), SECRET);
    assert.equal(
      await sh(id, 'stat -c "%a %n" /etc/app/app.ini /etc/motd /broker /run/secrets/db_password'),
      '444 /etc/app/app.ini\n444 /etc/motd\n444 /broker\n400 /run/secrets/db_password\n',
    );
    // Read-only: the container cannot change what the release shipped.
    const write = await execIn(docker, id, ['sh', '-c', 'echo x > /etc/app/app.ini']);
    assert.notEqual(write.exitCode, 0, 'the release files are read-only');
    await sh(id, 'echo kept > /var/lib/app/state.txt');

    // The device fetched images and files from the fleet's registry and the API only.
    const log = (await source.accessLog()).slice(published);
    assert.deepEqual(
      log.filter((l) => !l.userAgent.startsWith('skiff-cli/')),
      [],
      'only the CLI asked the source registry',
    );
    // The secret is in no report and no log line of the device.
    const detail = await api.admin.getDevice(uuid);
    assert.doesNotMatch(JSON.stringify(detail), new RegExp(SECRET));
    assert.doesNotMatch(device.logText(), new RegExp(SECRET));

    // A changed config file makes a new release; the app is recreated with it, its state folder kept.
    await writeFile(path.join(dir, 'config', 'app.ini'), '[app]\nlevel = debug\n');
    const second = await runSkiff(
      api,
      'push',
      dir,
      '--fleet',
      fleet.name,
      '--docker-host',
      env.devDockerHost,
      '--wait',
      '--timeout',
      '150',
      '--json',
    );
    assert.equal(second.code, 0, `${second.stdout}\n${second.stderr}`);
    assert.match(second.stderr, /files: 5 in the release, 1 uploaded \(\d+ bytes\), 4 already there/);
    assert.notEqual((JSON.parse(second.stdout) as Release).id, release.id);
    const next = await appContainer();
    assert.notEqual(next, id, 'the container was recreated with the changed file');
    assert.equal(await sh(next, 'cat /etc/app/app.ini'), '[app]\nlevel = debug\n');
    assert.equal(await sh(next, 'cat /var/lib/app/state.txt'), 'kept\n');
  });
});

// `skiff push` of a compose file that names its images by tag, as real stacks do: the tags are resolved on the
// developer's side from a registry standing in for a public one, the images copied into the fleet's registry, and a
// real supervisor runs the release from there. The source registry's access log shows that only the CLI asked it.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Release } from '../../protocol/api.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { localImageRef } from '../../supervisor/images/local-image.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { BASE_IMAGE, buildTestImage } from '../../harness/images.js';
import { buildImage } from '../../harness/engine-build.js';
import { connectEngine } from '../../supervisor/engine/engine.js';
import { parseDigestReference } from '../../protocol/image-reference.js';
import { runSkiff } from '../../harness/skiff-process.js';
import { SourceRegistry } from '../../harness/source-registry.js';
import {
  cleanDevice,
  deviceDocker,
  eventually,
  inspectContainer,
  managedContainers,
} from '../../harness/supervisor-device.js';
import { makeDataDir, printLogsIfFailed, SupervisorProcess } from '../../harness/supervisor-process.js';

const env = loadTestEnv();
const docker = deviceDocker(env);

describe('skiff push with tagged images from a public-like registry', function () {
  this.timeout(240_000);
  let api: ApiServer;
  let source: SourceRegistry;
  let device: SupervisorProcess | undefined;
  let appTag: string;
  let webTag: string;
  const dirs: string[] = [];

  async function composeDir(compose: string): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'skiff-push-tagged-'));
    dirs.push(dir);
    await writeFile(path.join(dir, 'docker-compose.yml'), compose);
    return dir;
  }

  function taggedCompose(): string {
    return [
      'services:',
      '  app:',
      `    image: ${appTag}`,
      '    restart: always',
      '    environment:',
      '      GREETING: ${GREETING:-hello}',
      '  web:',
      `    image: ${webTag}`,
      '    restart: always',
      '',
    ].join('\n');
  }

  before(async () => {
    source = await SourceRegistry.start();
    // Published images: built by someone else, pushed to the source registry and tagged there. The developer's
    // engine keeps no copy (buildTestImage removes its tag), so the push must fetch them from the registry.
    const sourceEnv = { devDockerHost: env.devDockerHost, registry: source.address };
    const [app, web] = await Promise.all([
      buildTestImage(sourceEnv, { repo: 'app' }),
      buildTestImage(sourceEnv, { repo: 'web' }),
    ]);
    appTag = await source.tag(app, '1.0');
    webTag = await source.tag(web, 'stable');
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

  it('--dry-run prints the normalised release and builds, copies and uploads nothing', async () => {
    const fleet = await api.createFleet('dry');
    const dir = await composeDir(taggedCompose());
    const before = (await source.accessLog()).length;
    const run = await runSkiff(
      api,
      'push',
      dir,
      '--fleet',
      fleet.name,
      '--dry-run',
      '--docker-host',
      env.devDockerHost,
    );
    assert.equal(run.code, 0, run.stderr);
    const printed = JSON.parse(run.stdout) as {
      images: Record<string, { copy?: string; to?: string }>;
      release: { services: Array<{ name: string; image: string; environment: Record<string, string> }> };
    };
    assert.equal(printed.images.app?.copy, appTag);
    assert.match(printed.images.app?.to ?? '', new RegExp(`^${env.registry}/dry/app:`));
    assert.equal(printed.images.web?.copy, webTag);
    assert.deepEqual(
      printed.release.services.map((s) => s.name),
      ['app', 'web'],
    );
    assert.match(
      printed.release.services[0]?.image ?? '',
      new RegExp(`^${env.registry}/dry/app:[\\w.-]+@sha256:\\(at push\\)$`),
    );
    // Variables are resolved before anything else: the default applies.
    assert.equal(printed.release.services[0]?.environment.GREETING, 'hello');
    assert.equal((await source.accessLog()).length, before, 'the source registry was not asked');
    assert.deepEqual(await api.admin.listReleases(fleet.name), []);
    const tags = await fetch(`http://${env.registry}/v2/dry/app/tags/list`);
    assert.equal(tags.status, 404, 'nothing was uploaded to the fleet registry');
  });

  it('a compose file with a mistake is refused before anything is built', async () => {
    const fleet = await api.createFleet('refused');
    const dir = await composeDir(['services:', '  app:', '    build: .', '    ports: ["not-a-port"]', ''].join('\n'));
    await writeFile(path.join(dir, 'Dockerfile'), 'FROM skiff/busybox:base\n');
    const run = await runSkiff(api, 'push', dir, '--fleet', fleet.name, '--docker-host', env.devDockerHost);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /services\.app\.ports/);
    assert.doesNotMatch(run.stderr, /building/);
  });

  it("takes an image the developer's engine has from there, without asking the registry it names", async () => {
    const fleet = await api.createFleet('local');
    // Only in the developer's engine: its registry does not exist, so a copy from there would fail.
    const local = `registry.invalid/acme/local:${Date.now()}`;
    const ctx = await mkdtemp(path.join(tmpdir(), 'skiff-local-image-'));
    dirs.push(ctx);
    await writeFile(path.join(ctx, 'Dockerfile'), `FROM ${BASE_IMAGE}\nCMD ["sleep", "3600"]\n`);
    const devEngine = connectEngine(env.devDockerHost);
    await buildImage(devEngine, ctx, ['Dockerfile'], { tag: local });
    try {
      const dir = await composeDir(`services:\n  app:\n    image: ${local}\n`);
      const run = await runSkiff(api, 'push', dir, '--fleet', fleet.name, '--docker-host', env.devDockerHost, '--json');
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /\[app\] registry\.invalid\/acme\/local:\d+: from your engine, pushing to /);
      const release = JSON.parse(run.stdout) as Release;
      assert.deepEqual(release.sources, { app: local });
      const pinned = parseDigestReference(release.images.app!);
      assert.equal(pinned.name, `${env.registry}/local/app`);
      const head = await fetch(`http://${env.registry}/v2/local/app/manifests/${pinned.digest}`, { method: 'HEAD' });
      assert.equal(head.status, 200, 'the image is in the fleet registry');
    } finally {
      await devEngine.json('DELETE', `/images/${local}`);
    }
  });

  it('--wait exits non-zero when the release fails verification, saying which image', async () => {
    const fleet = await api.createFleet('waitfail');
    const missing = `${env.registry}/waitfail/app@sha256:${'e'.repeat(64)}`;
    const dir = await composeDir(`services:\n  app:\n    image: ${missing}\n`);
    const run = await runSkiff(api, 'push', dir, '--fleet', fleet.name, '--wait', '--timeout', '60');
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /^Release 1 \(.*\) created in fleet waitfail: pending/);
    assert.match(
      run.stderr,
      /--wait: release 1 failed verification: service 'app' \(.*\/waitfail\/app@sha256:e+\): manifest .* is not in/,
    );
  });

  it('pushed unchanged with --wait, runs on a device that never contacts the source registry', async () => {
    const fleet = await api.createFleet('tagged');
    const config: SupervisorConfig = {
      apiUrl: api.url,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: 'raspberrypi4-64',
      dockerHost: env.deviceDockerHost,
      localApiPort: 0,
    };
    const dataDir = await makeDataDir(config);
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

    const dir = await composeDir(taggedCompose());
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
    );
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
    assert.match(push.stdout, /Ready: 1 device\(s\) run release 1/);
    assert.match(push.stderr, /\[app\] .*copying from 127\.0\.0\.1:\d+ to /);
    assert.match(push.stderr, /\[app\] [a-f0-9]{12}: uploaded /);

    const [release] = await api.admin.listReleases(fleet.name);
    assert.ok(release);
    assert.deepEqual(release.sources, { app: appTag, web: webTag });
    for (const service of ['app', 'web']) {
      assert.match(
        release.images[service] ?? '',
        new RegExp(`^${env.registry}/tagged/${service}@sha256:[a-f0-9]{64}$`),
      );
    }
    const running = await managedContainers(docker);
    assert.deepEqual(running.map((c) => c.service).sort(), ['app', 'web']);
    for (const c of running) {
      const details = await inspectContainer(docker, c.id);
      assert.equal(details.State.Running, true, `${c.service} runs`);
      assert.equal(
        details.Config.Image,
        localImageRef(release.images[c.service]!),
        `${c.service} runs the fleet registry's copy`,
      );
    }

    // From the push on, everything the source registry served went to the CLI: neither the supervisor nor the
    // device's engine asked it for anything (their requests carry no or another User-Agent).
    const log = (await source.accessLog()).slice(published);
    assert.ok(
      log.some((l) => l.method === 'GET' && l.path === `/v2/skiff-test/app/manifests/1.0`),
      'the CLI resolved the tag at the source',
    );
    assert.ok(
      log.some((l) => l.path.includes('/blobs/sha256:')),
      'the CLI read the layers at the source',
    );
    assert.deepEqual(
      log.filter((l) => !l.userAgent.startsWith('skiff-cli/')),
      [],
      'only the CLI asked the source registry',
    );

    // The same push again: same content, so the API answers with the release it has and makes none.
    const again = await runSkiff(api, 'push', dir, '--fleet', fleet.name, '--docker-host', env.devDockerHost, '--json');
    assert.equal(again.code, 0, again.stderr);
    const answer = JSON.parse(again.stdout) as Release & { unchanged: boolean };
    assert.equal(answer.unchanged, true);
    assert.equal(answer.id, release.id);
    assert.equal((await api.admin.listReleases(fleet.name)).length, 1);

    // A changed default is changed content: a new release.
    await writeFile(path.join(dir, 'docker-compose.yml'), taggedCompose().replace('hello', 'good day'));
    const changed = await runSkiff(api, 'push', dir, '--fleet', fleet.name, '--docker-host', env.devDockerHost);
    assert.equal(changed.code, 0, changed.stderr);
    assert.match(changed.stdout, /^Release 2 \(.*\) created in fleet tagged/);
  });
});

// `skiff push --local` and `skiff local status|leave`, run as the CLI process a developer runs, against a real
// supervisor process on the environment's device engine, with images built by the dev engine and pushed to the
// environment's registry. The device's API is unreachable: local mode needs no fleet backend.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { localPaths, type LocalState } from '../../protocol/local-api.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { LOCAL_API_KEY_FILE } from '../../supervisor/local-api/key.js';
import { LABELS } from '../../supervisor/plan/naming.js';
import { TargetStore } from '../../supervisor/target/store.js';
import { distRoot, loadTestEnv } from '../../harness/env.js';
import { BASE_IMAGE, buildTestImage } from '../../harness/images.js';
import {
  cleanDevice,
  deviceDocker,
  eventually,
  managedContainers,
  type RunningContainer,
} from '../../harness/supervisor-device.js';
import {
  makeDataDir,
  offlineDeviceConfig,
  printLogsIfFailed,
  SupervisorProcess,
} from '../../harness/supervisor-process.js';
import { serviceSpec, signedTarget, targetState, TEST_DEVICE_UUID } from '../../harness/supervisor-targets.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const CLI_MAIN = path.join(distRoot, 'cli', 'main.js');
const device = `127.0.0.1:${env.deviceApiPort}`;
const RELEASE_ID = /took local target (local-[0-9a-f]{12}): a, b\n/;

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('skiff push --local and skiff local (CLI process, real supervisor)', function () {
  this.timeout(300_000);
  let work: string;
  let dataDir: string;
  let keyFile: string;
  let supervisor: SupervisorProcess | undefined;
  let firstRelease: string;

  /** The CLI as a developer runs it: no Skiff login, no DOCKER_HOST, no key in the environment. */
  const cli = (args: string[]): Promise<CliRun> =>
    new Promise((resolve, reject) => {
      const childEnv: NodeJS.ProcessEnv = { ...process.env, SKIFF_CONFIG: path.join(work, 'no-login.json') };
      for (const name of ['SKIFF_API_URL', 'SKIFF_API_TOKEN', 'SKIFF_LOCAL_API_KEY', 'DOCKER_HOST'])
        delete childEnv[name];
      const child = spawn(process.execPath, [CLI_MAIN, ...args], {
        env: childEnv,
        cwd: work,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('utf8');
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  const pushLocal = (dir: string, ...extra: string[]): Promise<CliRun> =>
    cli([
      'push',
      '--local',
      device,
      dir,
      '--registry',
      env.registry,
      '--key-file',
      keyFile,
      '--docker-host',
      env.devDockerHost,
      '--build-arg',
      `BASE=${BASE_IMAGE}`,
      '--timeout',
      '120',
      ...extra,
    ]);
  const running = async (): Promise<Map<string, RunningContainer>> =>
    new Map((await managedContainers(docker)).filter((c) => c.state === 'running').map((c) => [c.service, c]));
  const services = async (): Promise<string[]> => [...(await running()).keys()].sort();
  const show = (run: CliRun): string =>
    `exit ${run.code}\n--- stdout ---\n${run.stdout}\n--- stderr ---\n${run.stderr}`;

  /** A compose project of two services built FROM the base image given as build arg, each with its own file. */
  const writeProject = async (dir: string, files: { a: string; b: string }, extraA = ''): Promise<void> => {
    await writeFile(
      path.join(dir, 'docker-compose.yml'),
      [
        'services:',
        '  a:',
        '    build: ./a',
        '  b:',
        '    build:',
        '      context: ./b',
        '    environment:',
        '      GREETING: ${GREETING:-hello}',
        '',
      ].join('\n'),
    );
    for (const service of ['a', 'b'] as const) {
      await mkdir(path.join(dir, service), { recursive: true });
      await writeFile(path.join(dir, service, 'msg'), `${files[service]}\n`);
      await writeFile(
        path.join(dir, service, 'Dockerfile'),
        [
          'ARG BASE',
          'FROM ${BASE}',
          'COPY msg /msg',
          service === 'a' ? extraA : '',
          'CMD ["sh", "-c", "trap \\"exit 0\\" TERM; while :; do sleep 1 & wait $!; done"]',
          '',
        ].join('\n'),
      );
    }
  };

  before(async () => {
    await cleanDevice(docker);
    work = await mkdtemp(path.join(tmpdir(), 'skiff-cli-local-'));
    const fleetImage = await buildTestImage(env, { repo: 'cli-local-fleet' });
    const config: SupervisorConfig = offlineDeviceConfig(env, { localApiPort: env.deviceApiPort });
    dataDir = await makeDataDir(config);
    keyFile = path.join(dataDir, LOCAL_API_KEY_FILE);
    await new TargetStore(dataDir, TEST_DEVICE_UUID).save(
      signedTarget(targetState([serviceSpec('f', fleetImage)], { releaseId: 'fleet-r1' })),
    );
    supervisor = new SupervisorProcess(dataDir, { SKIFF_REPORT_INTERVAL_MS: '200' });
    await eventually('the fleet target running', 60_000, async () => {
      const ping = await fetch(`http://${device}${localPaths.ping}`).catch(() => undefined);
      return ping?.status === 200 && (await services()).join() === 'f' ? true : undefined;
    });
  });

  afterEach(function () {
    printLogsIfFailed(this.currentTest, supervisor);
  });

  after(async () => {
    await supervisor?.stop('SIGKILL');
    await cleanDevice(docker);
    await rm(work, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
  });

  it('builds, pushes and runs a two-service compose file on the device, and waits until it runs', async () => {
    const project = path.join(work, 'project');
    await mkdir(project);
    await writeProject(project, { a: 'a one', b: 'b one' });
    const run = await pushLocal('project');
    assert.equal(run.code, 0, show(run));
    const [, releaseId] = RELEASE_ID.exec(run.stdout) ?? [];
    assert.ok(releaseId, show(run));
    firstRelease = releaseId;
    // Followed to the end: the device's own account of what runs, printed once it runs it.
    assert.match(run.stdout, /Local mode: +yes/);
    assert.match(run.stdout, new RegExp(`Running release: +${releaseId}`));
    assert.match(run.stderr, /\[a\] Step 1\/4 : ARG BASE/);
    assert.match(
      run.stderr,
      new RegExp(`\\[b\\] pushed ${env.registry.replace(/\./g, '\\.')}/local/b@sha256:[0-9a-f]{64}`),
    );

    const now = await running();
    assert.deepEqual([...now.keys()].sort(), ['a', 'b'], 'the fleet service f made way for the local compose file');
    for (const service of ['a', 'b']) assert.equal(now.get(service)?.labels[LABELS.release], releaseId);
  });

  it('pushes again with one service changed: only that container is replaced', async () => {
    const before = await running();
    await writeProject(path.join(work, 'project'), { a: 'a one', b: 'b two' });
    const run = await pushLocal('project');
    assert.equal(run.code, 0, show(run));
    const [, releaseId] = RELEASE_ID.exec(run.stdout) ?? [];
    assert.ok(releaseId && releaseId !== firstRelease, show(run));
    const after = await running();
    assert.deepEqual([...after.keys()].sort(), ['a', 'b']);
    assert.equal(after.get('a')?.id, before.get('a')?.id, 'a did not change, so its container stays');
    assert.notEqual(after.get('b')?.id, before.get('b')?.id, 'b changed, so its container was replaced');
  });

  it('shows the device with `local status`, as text and as JSON', async () => {
    const text = await cli(['local', 'status', device, '--key-file', keyFile]);
    assert.equal(text.code, 0, show(text));
    assert.match(text.stdout, new RegExp(`Device: +${TEST_DEVICE_UUID}`));
    assert.match(text.stdout, /^a +running +[0-9a-f]{12} +local-/m);
    const json = await cli(['local', 'status', device, '--key', (await readFile(keyFile, 'utf8')).trim(), '--json']);
    assert.equal(json.code, 0, show(json));
    const state = JSON.parse(json.stdout) as LocalState;
    assert.equal(state.localMode, true);
    assert.deepEqual(
      state.report.services.map((s) => [s.name, s.state]),
      [
        ['a', 'running'],
        ['b', 'running'],
      ],
    );
  });

  it('says clearly what is wrong: key, address, compose file, build, and an image the device cannot get', async () => {
    const wrongKey = await cli(['local', 'status', device, '--key', 'not-the-key']);
    assert.equal(wrongKey.code, 1, show(wrongKey));
    assert.match(wrongKey.stderr, /refused GET http:\/\/127\.0\.0\.1:\d+\/v1\/state \(HTTP 401\)/);
    assert.match(wrongKey.stderr, /local-api\.key/);

    const noKey = await cli(['local', 'status', device]);
    assert.equal(noKey.code, 1, show(noKey));
    assert.match(noKey.stderr, /needs its key.*--key, --key-file or SKIFF_LOCAL_API_KEY/);

    // The environment's API port: reserved for it, and no API runs in this test.
    const unreachable = await cli(['local', 'leave', `127.0.0.1:${env.apiPort}`, '--key', 'k']);
    assert.equal(unreachable.code, 1, show(unreachable));
    assert.match(
      unreachable.stderr,
      new RegExp(`could not reach the device's local API at http://127\\.0\\.0\\.1:${env.apiPort}: .*ECONNREFUSED`),
    );
    assert.match(unreachable.stderr, /SSH tunnel/);

    // Nothing to build: the device's compose check answers, naming the field.
    const invalid = path.join(work, 'invalid');
    await mkdir(invalid);
    await writeFile(
      path.join(invalid, 'compose.yaml'),
      `services:\n  x:\n    image: ${BASE_IMAGE}\n    ports: ["nope"]\n`,
    );
    const refused = await pushLocal('invalid');
    assert.equal(refused.code, 1, show(refused));
    assert.match(refused.stderr, /refused PUT http:\/\/127\.0\.0\.1:\d+\/v1\/local\/target \(HTTP 400\)/);
    assert.match(refused.stderr, /services\.x\.ports/);

    const broken = path.join(work, 'broken');
    await mkdir(broken);
    await writeProject(broken, { a: 'a', b: 'b' }, 'RUN exit 3');
    const failed = await pushLocal('broken');
    assert.equal(failed.code, 1, show(failed));
    assert.match(failed.stderr, /service 'a': build failed at step 4\/5 \(RUN exit 3\): .*non-zero code: 3/);

    // The device takes it, but cannot fetch the image: --follow reports the device's own error.
    const missing = path.join(work, 'missing');
    await mkdir(missing);
    await writeFile(
      path.join(missing, 'compose.yaml'),
      `services:\n  m:\n    image: ${env.registry}/skiff-test/never-pushed@sha256:${'0'.repeat(64)}\n`,
    );
    const notRunning = await pushLocal('missing');
    assert.equal(notRunning.code, 1, show(notRunning));
    assert.match(notRunning.stdout, /took local target local-[0-9a-f]{12}: m\n/);
    assert.match(notRunning.stderr, /the device could not run local target local-[0-9a-f]{12}: .*never-pushed/);
  });

  it('leaves local mode with `local leave`: the device goes back to its fleet target', async () => {
    const left = await cli(['local', 'leave', device, '--key-file', keyFile]);
    assert.equal(left.code, 0, show(left));
    assert.match(left.stdout, /left local mode and goes back to its fleet target/);
    await eventually('f back, the local services gone', 60_000, async () =>
      (await services()).join() === 'f' ? true : undefined,
    );
    const again = await cli(['local', 'leave', device, '--key-file', keyFile]);
    assert.equal(again.code, 0, show(again));
    assert.match(again.stdout, /was not in local mode/);
    const status = await cli(['local', 'status', device, '--key-file', keyFile, '--json']);
    assert.equal((JSON.parse(status.stdout) as LocalState).localMode, false);
  });
});

// The README's demo as a newcomer runs it: a fresh `git clone` of this repository at HEAD, `make demo` twice in it,
// in its own environment ('e2e'): engines and registry started by the project's scripts, registry-api and a device
// supervisor as real processes, the meter fleet pushed with the CLI. Asserted from git, from the device's engine and
// from the API, not from the script's own words; the push command the demo prints is run as printed.
// To keep the run short the clone's node_modules is a symlink to this checkout's, which scripts/deps.sh accepts
// because it holds exactly what the clone's package-lock.json pins (a fresh install is minutes of native builds).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DeviceSummary, Release } from '../../protocol/api.js';
import { paths } from '../../protocol/http/paths.js';
import { createLogger } from '../../lib/logger.js';
import { dockerEngine, type Engine } from '../../supervisor/engine/engine.js';
import { localImageRef } from '../../supervisor/images/local-image.js';
import { repoRoot, type TestEnv } from '../../harness/env.js';

const run = promisify(execFile);
// SKIFF_E2E_ENV runs it in another environment (a developer's own h1..h9) while the suite's 'e2e' is busy.
const ENV = process.env.SKIFF_E2E_ENV ?? 'e2e';
const FLEET = 'meter-fleet';
const SERVICES = ['logger', 'meter-reader', 'tunnel'];

function engineAt(host: string): Engine {
  return dockerEngine(host, createLogger('test-demo', { test: 'e2e' }));
}

/** The environment a person's shell would have: none of the variables the demo tells them to export. */
function shellEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SKIFF_DEMO_ENV: ENV };
  for (const name of ['SKIFF_API_URL', 'SKIFF_API_TOKEN', 'DOCKER_HOST', 'SKIFF_DIST']) delete env[name];
  return env;
}

async function inClone(dir: string, file: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(file, args, { cwd: dir, env: shellEnv(), maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed in ${dir}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

async function gitStatus(dir: string): Promise<string> {
  return (await inClone(dir, 'git', ['status', '--porcelain'])).stdout;
}

describe('end to end: the local fleet demo, from a fresh clone', function () {
  this.timeout(1_200_000);
  let clone: string;
  let root: string;
  let env: TestEnv;
  let api: string;
  let token: string;
  const runs: Array<{ stdout: string; stderr: string; status: string }> = [];

  async function get<T>(p: string): Promise<T> {
    const res = await fetch(`${api}${p}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, `GET ${p} answered ${res.status}: ${await res.clone().text()}`);
    return (await res.json()) as T;
  }

  before(async () => {
    // The environment's bridges and ports are named after 'e2e' whatever the checkout: stop one this checkout left.
    await run('bash', [path.join(repoRoot, 'scripts', 'demo.sh'), 'down'], { cwd: repoRoot, env: shellEnv() });
    clone = await mkdtemp(path.join(os.tmpdir(), 'skiff-demo-clone-'));
    await run('git', ['clone', '--quiet', repoRoot, clone]);
    await symlink(realpathSync(path.join(repoRoot, 'node_modules')), path.join(clone, 'node_modules'));
    assert.equal(await gitStatus(clone), '', 'the fresh clone starts clean');
    for (let i = 0; i < 2; i++) {
      const out = await inClone(clone, 'make', ['demo']);
      runs.push({ ...out, status: await gitStatus(clone) });
    }
    root = path.join(clone, '.skiff', ENV);
    env = JSON.parse(readFileSync(path.join(root, 'env.json'), 'utf8')) as TestEnv;
    api = `http://127.0.0.1:${env.apiPort}`;
    token = readFileSync(path.join(root, 'api', 'admin-token'), 'utf8').trim();
  });

  after(async () => {
    if (clone === undefined) return;
    await inClone(clone, 'make', ['demo-stop']);
    await rm(clone, { recursive: true, force: true });
  });

  it('leaves the clone clean after each run: no file changed (package-lock.json included), .skiff/ ignored', () => {
    assert.equal(runs.length, 2);
    for (const [i, r] of runs.entries()) {
      assert.match(r.stdout, /The local fleet runs/, `run ${i + 1} finished`);
      assert.equal(r.status, '', `git status --porcelain after run ${i + 1}`);
    }
  });

  it('starts only what the demo uses: no Redis, PostgreSQL or token-auth registry', async () => {
    const status = (await inClone(clone, 'bash', ['scripts/env.sh', 'status', ENV])).stdout;
    assert.match(status, /^engine dev +up/m);
    assert.match(status, /^engine device +up/m);
    assert.match(status, /^registry +up/m);
    for (const name of ['auth registry', 'redis', 'postgres']) assert.match(status, new RegExp(`^${name} +down`, 'm'));
  });

  it("prints the API's address, the admin token's file and the build engine", () => {
    const [, second] = runs;
    assert.ok(second);
    assert.ok(second.stdout.includes(`API:              ${api}`), second.stdout);
    assert.ok(second.stdout.includes(`Admin token:      ${path.join(root, 'api', 'admin-token')}`));
    assert.ok(second.stdout.includes(`Build engine:     ${env.devDockerHost}`));
  });

  it("prints the dashboard's address and a one-time code to log in with", () => {
    const [, second] = runs;
    assert.ok(second);
    const line = new RegExp(
      `^ {2}Dashboard: {8}${api.replace(/[.]/g, '\\.')}/ \\(user admin: choose "I have an invite code", code [A-Za-z0-9_-]{43}, then set a password\\)$`,
      'm',
    );
    assert.match(second.stdout, line);
  });

  it('the re-run makes no new release and says so', async () => {
    const releases = await get<Release[]>(paths.releases(FLEET));
    assert.equal(releases.length, 1, `one release after two runs: ${releases.map((r) => r.version).join(', ')}`);
    assert.match(
      runs[1]!.stderr,
      new RegExp(`release ${releases[0]!.version} already has this content: no new release`),
    );
  });

  it('the printed push command works as printed and makes no new release', async () => {
    const printed = runs[1]!.stdout;
    const exportLine = /^ {2}export SKIFF_API_URL=.*$/m.exec(printed)?.[0];
    const pushLine = /^ {2}node dist\/cli\/main\.js push .*$/m.exec(printed)?.[0];
    assert.ok(exportLine, `an export line in:\n${printed}`);
    assert.ok(pushLine, `a push command in:\n${printed}`);
    const out = await inClone(clone, 'bash', ['-euo', 'pipefail', '-c', `${exportLine}\n${pushLine}`]);
    assert.match(out.stdout, /already has this content: no new release/);
    assert.equal((await get<Release[]>(paths.releases(FLEET))).length, 1);
    assert.equal(await gitStatus(clone), '', 'git status --porcelain after the push');
  });

  it("keeps the API's log, the device's log and config readable by their user only", () => {
    for (const file of ['api/api.log', 'device/supervisor.log', 'device/config.json']) {
      assert.equal((statSync(path.join(root, file)).mode & 0o777).toString(8), '600', `${file} is 0600`);
    }
  });

  it('the API shows the device online, running the pushed release', async () => {
    const releases = await get<Release[]>(paths.releases(FLEET));
    const latest = releases[0];
    assert.ok(latest, 'the fleet has a release');
    assert.deepEqual([...latest.services].sort(), SERVICES);
    const devices = await get<DeviceSummary[]>(`${paths.devices}?fleet=${FLEET}`);
    assert.equal(devices.length, 1);
    const [device] = devices;
    assert.equal(device?.online, true);
    assert.equal(device?.targetRelease, latest.version);
    assert.equal(device?.runningRelease, latest.version);
    assert.equal(device?.updateStatus, 'converged');
  });

  it("the device's engine runs each service from the release's image digest, labelled with the release", async () => {
    const [latest] = await get<Release[]>(paths.releases(FLEET));
    assert.ok(latest);
    const engine = engineAt(env.deviceDockerHost);
    const containers = await engine.listContainers('io.skiff.managed=true');
    const byService = new Map(containers.map((c) => [c.labels['io.skiff.service'], c]));
    assert.deepEqual([...byService.keys()].sort(), SERVICES);
    for (const service of SERVICES) {
      const info = byService.get(service)!;
      assert.equal(info.state, 'running', `${service} is running`);
      // Skiff's own downloader fetched the image by digest and loaded it under its local tag (REPO:sha256-HEX).
      assert.equal(info.image, localImageRef(latest.images[service]!), `${service} runs the release's digest`);
      assert.equal(info.labels['io.skiff.release'], latest.id);
      assert.equal(info.labels['io.skiff.fleet'], FLEET);
    }
    // The device fetched by digest from the registry: it never saw the build engine's tags, only the local tags of
    // the release's digests.
    const deviceImages = await engine.listImages();
    const fleetTags = deviceImages.flatMap((i) => i.repoTags).filter((t) => t.includes(`/${FLEET}/`));
    assert.deepEqual(
      fleetTags.filter((t) => !/:sha256-[a-f0-9]{64}$/.test(t)),
      [],
      'no build tags on the device',
    );
    for (const s of SERVICES)
      assert.ok(fleetTags.includes(localImageRef(latest.images[s]!)), `${s}'s image is on the device`);
  });

  it('the meter reader produces readings from simulated DSMR telegrams', async () => {
    const engine = engineAt(env.deviceDockerHost);
    const [reader] = await engine.listContainers('io.skiff.service=meter-reader');
    assert.ok(reader);
    const deadline = Date.now() + 60_000;
    let logs = '';
    while (Date.now() < deadline) {
      logs = (await engine.containerLogs(reader.id, { tail: 200 })).map((l) => l.text).join('\n');
      if (/"msg":"reading"/.test(logs)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.match(logs, /"msg":"reading".*"deliveredTariff1Kwh":\d/);
  });
});

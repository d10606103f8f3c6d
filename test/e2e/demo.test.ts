// The README's demo flow, end to end, in its own environment ('e2e'): engines, registry and Redis started by
// the project's scripts, registry-api and a device supervisor as real processes, the meter fleet pushed with the
// CLI. Asserted from the device's engine and from the API, not from the script's own output.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DeviceSummary, Release } from '../../protocol/api.js';
import { paths } from '../../protocol/http/paths.js';
import { createLogger } from '../../lib/logger.js';
import { dockerEngine, type Engine } from '../../supervisor/engine/engine.js';
import { localImageRef } from '../../supervisor/images/local-image.js';
import { distRoot, repoRoot, type TestEnv } from '../../harness/env.js';

const run = promisify(execFile);
const ENV = 'e2e';
const FLEET = 'meter-fleet';
const SERVICES = ['logger', 'meter-reader', 'tunnel'];

function engineAt(host: string): Engine {
  return dockerEngine(host, createLogger('test-demo', { test: 'e2e' }));
}

async function demo(action: 'start' | 'down'): Promise<string> {
  const { stdout } = await run('bash', [path.join(repoRoot, 'scripts', 'demo.sh'), action], {
    cwd: repoRoot,
    env: { ...process.env, SKIFF_DEMO_ENV: ENV, SKIFF_DIST: distRoot },
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

describe('end to end: the local fleet demo', function () {
  this.timeout(900_000);
  let env: TestEnv;
  let api: string;
  let token: string;

  async function get<T>(p: string): Promise<T> {
    const res = await fetch(`${api}${p}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, `GET ${p} answered ${res.status}: ${await res.clone().text()}`);
    return (await res.json()) as T;
  }

  before(async () => {
    // A fresh fleet: no API data or device identity left from an earlier run of this environment.
    const root = path.join(repoRoot, '.skiff', ENV);
    await demo('down');
    await rm(path.join(root, 'api'), { recursive: true, force: true });
    await rm(path.join(root, 'device'), { recursive: true, force: true });
    const output = await demo('start');
    assert.match(output, /The local fleet runs/);
    env = JSON.parse(readFileSync(path.join(root, 'env.json'), 'utf8')) as TestEnv;
    api = `http://127.0.0.1:${env.apiPort}`;
    token = readFileSync(path.join(root, 'api', 'admin-token'), 'utf8').trim();
  });

  after(async () => {
    await demo('down');
  });

  it("keeps the API's log, the device's log and config readable by their user only", () => {
    const root = path.join(repoRoot, '.skiff', ENV);
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

// The fleet simulator (harness/fleet-sim) against a real API: 2,000 simulated devices register with real keys,
// converge on their fleet's release, and a pin to another release reaches them through their push channels alone
// (they make no periodic polls), checked from both sides: the simulator's counts and the API's device list.
// A second fleet shows the simulated failure modes reach the API as a real device's reports would.
// The API runs in a process of its own (registry-api/main.ts on SQLite), as in production: on a two-core machine
// it then has a core apart from the thousands of simulated devices.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Release } from '../../protocol/api.js';
import { ApiClient } from '../../cli/api-client.js';
import { distRoot, loadTestEnv } from '../../harness/env.js';
import type { SimBehaviour } from '../../harness/fleet-sim/behaviour.js';
import { FleetSimulator } from '../../harness/fleet-sim/fleet-sim.js';
import { tinyMeterRelease } from '../../harness/fleet-sim/release.js';
import { freePort } from '../../harness/jump-host.js';
import { startServer, type ServerProcess } from '../../bench/support/server-process.js';

const DEVICES = 2_000;
const ADMIN_TOKEN = 'fleet-sim-test-admin-token-0123456789';

describe('fleet simulator: thousands of simulated devices on the real device protocol', function () {
  this.timeout(420_000);
  let dataDir: string;
  let api: ServerProcess;
  let admin: ApiClient;
  let signingKey: string;
  const sims: FleetSimulator[] = [];

  async function release(fleet: string, version: string): Promise<Release> {
    const compose = await tinyMeterRelease(loadTestEnv().registry, fleet, version);
    const created = await admin.createRelease(fleet, { compose, images: {}, version });
    for (const deadline = Date.now() + 120_000; ; ) {
      const found = await admin.getRelease(fleet, created.id);
      if (found.status === 'ready') return found;
      assert.ok(found.status === 'pending' && Date.now() < deadline, `release ${version} is ${found.status}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  function simulator(
    fleet: { name: string; provisioningKey: string },
    behaviour: Partial<SimBehaviour>,
  ): FleetSimulator {
    const sim = new FleetSimulator({
      apiUrls: [api.url],
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      signingKey,
      behaviour,
    });
    sims.push(sim);
    return sim;
  }

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-fleet-sim-'));
    const port = await freePort('127.0.0.1');
    api = await startServer({
      name: 'registry-api',
      args: [path.join(distRoot, 'registry-api', 'main.js')],
      env: {
        SKIFF_DATA_DIR: dataDir,
        SKIFF_API_PORT: String(port),
        SKIFF_ADMIN_TOKEN: ADMIN_TOKEN,
        SKIFF_REDIS_URL: '',
        SKIFF_LOG_LEVEL: 'warn',
      },
      port,
      readyPath: '/v1/info',
    });
    admin = new ApiClient({ baseUrl: api.url, token: ADMIN_TOKEN });
    signingKey = (await admin.info()).signingKey ?? '';
  });
  after(async () => {
    for (const sim of sims) await sim.stop();
    await api?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it(`registers ${DEVICES} devices, converges them, and a pin reaches every one through its push channel`, async () => {
    const fleet = await admin.createFleet({ name: 'sim-meters', deviceType: 'generic-amd64' });
    const v1 = await release(fleet.name, '1.0.0');
    const v2 = await release(fleet.name, '2.0.0');
    await admin.pin(fleet.name, v1.id);
    // No periodic polls: only the push channel can tell a device about the pin.
    const sim = simulator(fleet, { applyMs: 1_000, jitter: 0.5, pollIntervalMs: null, pushChannel: true });
    const { uuids } = await sim.add(DEVICES, { live: false });
    sim.live();
    await sim.waitConverged(v1.id, 240_000);
    const before = await sim.waitChannels(120_000);
    assert.equal(before.refusedTargets, 0, 'every target passed the device gate (signature, schema, uuid)');

    await admin.pin(fleet.name, v2.id);
    const after = await sim.waitConverged(v2.id, 240_000);
    assert.equal(after.refusedTargets, 0);
    assert.equal(after.running[v2.id], DEVICES);
    assert.equal(after.channels, DEVICES, 'every device still holds its channel');
    // Each device fetched the new target once, because its channel told it to: it makes no other polls.
    assert.equal(after.polls200 - before.polls200, DEVICES);
    assert.equal(after.polls - before.polls, DEVICES);

    // The API's side: every device online, reporting the new release in full.
    const listed = await admin.listDevices(fleet.name);
    const mine = new Set(uuids);
    const running = listed.filter((d) => mine.has(d.uuid) && d.online && d.runningRelease === v2.version);
    assert.equal(running.length, DEVICES, 'the API lists every device online and running 2.0.0');
  });

  it('reports the failures it is told to simulate as a device would', async () => {
    const fleet = await admin.createFleet({ name: 'sim-failing', deviceType: 'generic-amd64' });
    const good = await release(fleet.name, '1.0.0');
    const bad = await release(fleet.name, '1.1.0');
    await admin.pin(fleet.name, good.id);
    const sim = simulator(fleet, {
      applyMs: 200,
      pollIntervalMs: null,
      pushChannel: true,
      failureRate: 1,
      failure: 'app-health',
      failingReleases: [bad.id],
    });
    const { uuids } = await sim.add(20);
    await sim.waitConverged(good.id, 120_000);
    await admin.pin(fleet.name, bad.id);
    // They run it (converged), but the application says it does not do its job.
    await sim.waitConverged(bad.id, 120_000);
    const detail = await admin.getDevice(uuids[0] ?? '');
    const reader = detail.lastReport?.services.find((s) => s.name === 'meter-reader');
    assert.equal(reader?.appHealth?.ok, false, 'the API holds the failing application health');
    assert.equal(reader?.appHealth?.value, 0.42);
  });
});

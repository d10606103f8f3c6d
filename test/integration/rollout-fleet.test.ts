// A rollout over a fleet of 2,002 devices: 2,000 simulated at the protocol level (harness/simulated-device.ts) and
// two real supervisor processes, each on an engine of its own, tagged as canaries. The API is the real one with its
// rollout driver. A good release goes 1%/10%/100% and completes with every device healthy, the real engines running
// it; a release whose application reports health below its minimum on the real devices halts in its first phase on
// their reports alone, with their numbers in the audit log and the rest of the fleet untouched; abort brings the
// phase, the real engines included, back to the release before.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Release } from '../../protocol/api.js';
import type { Rollout } from '../../protocol/rollouts.js';
import { connectEngine } from '../../supervisor/engine/engine.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { HEALTH_DEADLINE_LABEL, HEALTH_MIN_LABEL } from '../../supervisor/app-health/declaration.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { mapLimit } from '../../harness/map-limit.js';
import { runningReport, SimulatedDevice } from '../../harness/simulated-device.js';
import { cleanDevice, eventually, managedContainers } from '../../harness/supervisor-device.js';
import { SupervisorProcesses, type SupervisorProcess } from '../../harness/supervisor-process.js';
import { TestDevice } from '../../harness/test-device.js';

const env = loadTestEnv();
const SIMULATED = 2_000;
const engines = [connectEngine(env.deviceDockerHost), connectEngine(env.devDockerHost)];
const PROCESS_ENV = {
  SKIFF_REPORT_INTERVAL_MS: '200',
  SKIFF_RESYNC_INTERVAL_MS: '500',
  SKIFF_APP_WATCH_INTERVAL_MS: '300',
};
/**
 * Writes the health its release declares in HEALTH into its own health file, then waits to be stopped; `$$` is
 * compose's literal `$`, for the shell to expand.
 */
const HEALTH_COMMAND = [
  'sh',
  '-c',
  'echo "{\\"value\\":$$HEALTH}" > "$$SKIFF_LOCK_DIR/health.json"; trap "exit 0" TERM; while :; do sleep 1 & wait $$!; done',
];

/** A release of service `a`: healthy when HEALTH reaches 0.9; the device gives it 10 minutes before rolling back. */
function composeOf(health: string): string {
  return [
    'services:',
    '  a:',
    '    build: ./a',
    '    restart: always',
    `    command: ${JSON.stringify(HEALTH_COMMAND)}`,
    '    environment:',
    `      HEALTH: "${health}"`,
    '    labels:',
    `      ${HEALTH_MIN_LABEL}: "0.9"`,
    `      ${HEALTH_DEADLINE_LABEL}: "10m"`,
    '',
  ].join('\n');
}

describe('a rollout over 2,000 simulated devices and two real supervisors', function () {
  this.timeout(600_000);
  let api: ApiServer;
  const supervisors = new SupervisorProcesses();
  const real: { process: SupervisorProcess; uuid: string }[] = [];
  const sims: SimulatedDevice[] = [];
  const releases: Release[] = [];
  let fleet = '';

  /** Every simulated device polls and, when its target changed, reports it running (healthy), 32 at a time. */
  async function round(): Promise<void> {
    await mapLimit(sims, 32, (sim) => sim.step(api.url, (release) => runningReport(release)));
  }

  async function until(id: string, done: (rollout: Rollout) => boolean, timeoutMs: number): Promise<Rollout> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await round();
      const rollout = await api.admin.getRollout(id, fleet);
      if (done(rollout)) return rollout;
      if (Date.now() > deadline)
        throw new Error(`rollout ${id} not there after ${timeoutMs} ms: ${JSON.stringify(rollout, null, 1)}`);
    }
  }

  /** What each real engine runs of service a: the release label of its running containers. */
  async function realReleases(): Promise<string[][]> {
    return Promise.all(
      engines.map(async (engine) =>
        (await managedContainers(engine))
          .filter((c) => c.service === 'a' && c.state === 'running')
          .map((c) => c.labels['io.skiff.release'] ?? '?'),
      ),
    );
  }

  /** Both real devices run `release` alone and report it converged, its application healthy or not. */
  async function realDevicesOn(release: Release, what: string): Promise<void> {
    await eventually(`${what}: both real engines on release ${release.version}`, 120_000, async () =>
      (await realReleases()).every((ids) => ids.length === 1 && ids[0] === release.id) ? true : undefined,
    );
    await eventually(`${what}: both real devices report release ${release.version}`, 60_000, async () => {
      const reports = await Promise.all(real.map(async (d) => (await api.device(d.uuid)).lastReport));
      return reports.every(
        (r) => r?.releaseId === release.id && r.updateStatus === 'converged' && r.services[0]?.appHealth !== undefined,
      )
        ? true
        : undefined;
    });
  }

  before(async () => {
    await Promise.all(engines.map((engine) => cleanDevice(engine)));
    api = await ApiServer.start({ registry: env.registry, rolloutTickMs: 250 });
    const created = await api.createFleet('meters');
    fleet = created.name;
    const image = await buildTestImage(env, { repo: 'rollout-fleet' });
    for (const health of ['1', '0.95', '0.2'])
      releases.push(await api.createRelease(fleet, composeOf(health), { a: image }));
    // The fleet stays on release 1 and moves on by rollouts only.
    await api.admin.pin(fleet, releases[0]!.version);

    for (const dockerHost of [env.deviceDockerHost, env.devDockerHost]) {
      const config: SupervisorConfig = {
        apiUrl: api.url,
        fleet,
        provisioningKey: created.provisioningKey,
        deviceType: 'generic-amd64',
        dockerHost,
        localApiPort: 0,
      };
      const dataDir = await supervisors.dataDir(config);
      const process = supervisors.start(dataDir, PROCESS_ENV);
      const uuid = await eventually(
        'the device to pick its uuid',
        20_000,
        async () => (JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig).uuid,
      );
      real.push({ process, uuid });
    }
    for (let i = 0; i < SIMULATED; i += 1)
      sims.push(new SimulatedDevice(TestDevice.create(`f1ee0000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`)));
    await mapLimit(sims, 16, (sim) => sim.signIn(api.url, { fleet, provisioningKey: created.provisioningKey }));
    await eventually('both real devices admitted', 30_000, async () => {
      const found = await Promise.all(real.map((d) => api.device(d.uuid).catch(() => undefined)));
      return found.every((d) => d !== undefined) ? true : undefined;
    });
    for (const d of real) await api.admin.updateDevice(d.uuid, { tags: ['canary'] });
    await round();
    assert.equal(sims.filter((sim) => sim.reported === releases[0]!.id).length, SIMULATED);
    await realDevicesOn(releases[0]!, 'before');
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await supervisors.stopAll(this.currentTest);
  });

  after(async () => {
    await supervisors.stopAll(undefined);
    await supervisors.removeDataDirs();
    await api?.stop();
    await Promise.all(engines.map((engine) => cleanDevice(engine)));
  });

  it('takes a good release phase by phase, canaries first, to every device, real engines included', async () => {
    const good = await api.admin.createRollout(fleet, {
      release: releases[1]!.version,
      phases: [{ percent: 1 }, { percent: 10 }, { percent: 100 }],
      successPercent: 100,
      failurePercent: 5,
      deadlineSeconds: 600,
    });
    const first = good.phases[0]!.counts.devices;
    assert.deepEqual(
      good.phases.map((phase) => phase.counts.devices),
      [first, 201 - first, 2_002 - 201],
      'phases of 1%, 10% and 100% of 2,002',
    );
    // The canaries go first: the real devices are in phase 1 and it cannot pass before they run the release.
    const passed = await until(good.id, (r) => r.phases[0]!.state !== 'running', 180_000);
    assert.equal(passed.phases[0]!.state, 'passed');
    await realDevicesOn(releases[1]!, 'after phase 1');
    assert.deepEqual(await realReleases(), [[releases[1]!.id], [releases[1]!.id]]);

    const done = await until(good.id, (r) => r.state === 'completed', 300_000);
    assert.deepEqual(
      done.phases.map((phase) => [phase.state, phase.counts.healthy, phase.counts.failed]),
      [
        ['passed', first, 0],
        ['passed', 201 - first, 0],
        ['passed', 2_002 - 201, 0],
      ],
    );
    assert.equal(sims.filter((sim) => sim.reported === releases[1]!.id).length, SIMULATED);
  });

  it('halts a release failing on the real devices in phase 1 on their reports, the rest untouched; abort goes back', async () => {
    const bad = await api.admin.createRollout(fleet, {
      release: releases[2]!.version,
      phases: [{ percent: 1 }, { percent: 10 }, { percent: 100 }],
      successPercent: 95,
      failurePercent: 5,
      // Long enough for both real devices to pull and start the release on a loaded machine: they must fail by
      // what they report, not by never reporting.
      deadlineSeconds: 90,
    });
    const first = bad.phases[0]!.counts.devices;
    const halted = await until(bad.id, (r) => r.state !== 'running', 240_000);
    assert.equal(halted.state, 'halted');
    // Every simulated device of the phase is healthy on it: only the two real ones fail, over 5% of the phase.
    assert.match(halted.reason ?? '', new RegExp(`^phase 1 \\(1%\\) halted: 2 of ${first} devices failed`));
    const entries = (await api.admin.listAudit({ fleet, limit: 999 })).filter((e) => e.target === `rollout:${bad.id}`);
    const halt = entries.find((e) => e.action === 'rollout.halt');
    assert.ok(halt, 'the halt is audited');
    assert.equal((halt.detail.counts as { failed: number }).failed, 2);
    const failures = halt.detail.failures as { uuid: string; reason: string }[];
    assert.deepEqual(failures.map((f) => f.uuid).sort(), real.map((d) => d.uuid).sort());
    for (const failure of failures) assert.match(failure.reason, /service a reports its application failing/);
    // The real devices run it and report why it fails: their health from the service itself.
    const report = (await api.device(real[0]!.uuid)).lastReport;
    assert.equal(report?.releaseId, releases[2]!.id);
    assert.deepEqual([report?.services[0]?.appHealth?.ok, report?.services[0]?.appHealth?.value], [false, 0.2]);
    await round();
    assert.equal(
      sims.filter((sim) => sim.target === releases[2]!.id).length,
      first - 2,
      "only the first phase's devices got the release",
    );

    const aborted = await api.admin.rolloutAction(fleet, bad.id, 'abort', 'meters read 20% of telegrams');
    assert.equal(aborted.state, 'aborted');
    assert.deepEqual(
      aborted.phases.map((phase) => [phase.state, phase.counts.rolledBack]),
      [
        ['rolled-back', first],
        ['skipped', 0],
        ['skipped', 0],
      ],
    );
    await round();
    assert.equal(sims.filter((sim) => sim.reported === releases[1]!.id).length, SIMULATED);
    await realDevicesOn(releases[1]!, 'after the abort');
  });
});

// Crash safety under fault injection: the supervisor process (node dist/supervisor/main.js) updates a 3-service
// release with a network and a volume change on the real engine and is SIGKILLed by its own kill-point hook
// (SKIFF_FAULT_KILL_AT, supervisor/reconcile/kill-point.ts) at 20 different points of the update: before and after fetches,
// creates, stops, removals and starts. Each time a restarted supervisor must converge to the new release, and a
// file written into a named volume before the first update must be intact.
import assert from 'node:assert/strict';
import type { TargetState } from '../../protocol/target-state.js';
import { createLogger } from '../../lib/logger.js';
import { desiredState } from '../../supervisor/plan/desired-state.js';
import { DockerEngine } from '../../supervisor/engine/engine.js';
import { resolveLocalImage } from '../../supervisor/images/local-image.js';
import { Reconciler } from '../../supervisor/reconcile/reconciler.js';
import { TargetStore } from '../../supervisor/target/store.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import {
  cleanDevice,
  deviceDocker,
  eventually,
  execIn,
  managedContainers,
  type RunningContainer,
} from '../../harness/supervisor-device.js';
import { offlineDeviceConfig, type SupervisorProcess, SupervisorProcesses } from '../../harness/supervisor-process.js';
import { serviceSpec, signedTarget, targetState, TEST_DEVICE_UUID } from '../../harness/supervisor-targets.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const log = createLogger('test-update-faults', { test: 'integration' });
const engine = new DockerEngine(docker, log);

const KILL_POINTS = 20;
const MARKER = 'meter-readings-before-update';

/** Every service of `target` has exactly one container, running, of the target's definition and release. */
async function runsExactly(target: TargetState): Promise<RunningContainer[] | undefined> {
  const containers = await managedContainers(docker);
  const desired = desiredState(target).containers;
  const exact =
    containers.length === desired.length &&
    desired.every((d) =>
      containers.some(
        (c) =>
          c.service === d.service &&
          c.state === 'running' &&
          c.labels['io.skiff.config-hash'] === d.configHash &&
          c.labels['io.skiff.release'] === target.release?.id,
      ),
    );
  return exact ? containers : undefined;
}

async function convergeInProcess(target: TargetState): Promise<void> {
  const reconciler = new Reconciler({ engine, log, retry: { initialMs: 100, maxMs: 1_000 } });
  reconciler.setTarget(target);
  for (let pass = 0; pass < 30 && reconciler.currentStatus().phase !== 'converged'; pass++) {
    const delay = await reconciler.runPass();
    assert.notEqual(reconciler.currentStatus().phase, 'error', reconciler.currentStatus().error ?? '');
    if (reconciler.currentStatus().phase !== 'converged') await new Promise((r) => setTimeout(r, Math.min(delay, 300)));
  }
  assert.equal(reconciler.currentStatus().phase, 'converged');
}

/** Waits for the engine to run `target`; fails at once if the supervisor exits meanwhile. */
async function runsWhileAlive(
  supervisor: SupervisorProcess,
  target: TargetState,
  what: string,
): Promise<RunningContainer[]> {
  const died = supervisor.exited.then((code) => {
    throw new Error(
      `the supervisor exited (${code ?? supervisor.child.signalCode ?? '?'}) before ${what}:\n${supervisor.logText()}`,
    );
  });
  return Promise.race([eventually(what, 60_000, () => runsExactly(target)), died]);
}

async function markerIn(containers: RunningContainer[]): Promise<string> {
  const db = containers.find((c) => c.service === 'db');
  assert.ok(db, 'a db container runs');
  return (await execIn(docker, db.id, ['cat', '/data/marker'])).output.trim();
}

/** `count` distinct points spread over 1..total, first and last included. */
function spread(total: number, count: number): number[] {
  const points = new Set<number>();
  for (let i = 0; i < count; i++) points.add(1 + Math.round((i * (total - 1)) / (count - 1)));
  return [...points];
}

describe('update fault injection (supervisor killed mid-update)', function () {
  this.timeout(600_000);
  const devices = new SupervisorProcesses();
  let r1: TargetState;
  let r2: TargetState;

  before(async () => {
    await cleanDevice(docker, { volumes: true });
    const [db1, api1, meter1, db2, api2, meter2] = await Promise.all(
      ['db', 'api', 'meter', 'db', 'api', 'meter'].map((repo) => buildTestImage(env, { repo: `fault-${repo}` })),
    );
    const data = { type: 'volume' as const, source: 'data', target: '/data', readOnly: false };
    r1 = targetState(
      [
        serviceSpec('db', db1 ?? '', { volumes: [data], networks: { sensors: { aliases: [] } } }),
        serviceSpec('api', api1 ?? '', {
          networks: { sensors: { aliases: [] } },
          dependsOn: { db: 'service_started' },
        }),
        serviceSpec('meter', meter1 ?? ''),
      ],
      { releaseId: 'r1', volumes: ['data'], networks: ['sensors'] },
    );
    // r2 changes every image, moves api and meter to a new network and gives db a second volume.
    r2 = targetState(
      [
        serviceSpec('db', db2 ?? '', {
          volumes: [data, { type: 'volume', source: 'logs', target: '/logs', readOnly: false }],
          networks: { meters: { aliases: [] } },
        }),
        serviceSpec('api', api2 ?? '', { networks: { meters: { aliases: [] } }, dependsOn: { db: 'service_started' } }),
        serviceSpec('meter', meter2 ?? '', { networks: { meters: { aliases: [] } } }),
      ],
      { releaseId: 'r2', volumes: ['data', 'logs'], networks: ['meters'] },
    );
  });

  afterEach(async function () {
    await devices.stopAll(this.currentTest);
  });

  after(async () => {
    await cleanDevice(docker, { volumes: true });
    await devices.removeDataDirs();
  });

  function start(dataDir: string, extraEnv: Record<string, string> = {}): SupervisorProcess {
    return devices.start(dataDir, { SKIFF_LOG_LEVEL: 'info', ...extraEnv });
  }

  /** The device runs r1 with the marker in its volume, r2's images, network and new volume are gone. */
  async function backToRelease1(): Promise<void> {
    await convergeInProcess(r1);
    // The fetcher loads r2's images under their local tag (local-image.ts), which the digest reference does not
    // name: remove whatever the engine has them as, or later runs would find them present and skip the fetches.
    for (const image of desiredState(r2).containers.map((c) => c.image)) {
      const local = await resolveLocalImage(engine, image);
      if (local !== undefined) assert.equal(await engine.removeImage(local), 'removed', `remove ${local}`);
      assert.equal(await resolveLocalImage(engine, image), undefined, `${image} is gone`);
    }
    await docker.json('DELETE', '/volumes/skiff_logs').catch(() => undefined);
    assert.equal(await markerIn(await managedContainers(docker)), MARKER);
  }

  /** A data dir whose persisted target is r2, as a device has it right after accepting the update. */
  async function deviceWithTarget2(): Promise<string> {
    const dataDir = await devices.dataDir(offlineDeviceConfig(env));
    await new TargetStore(dataDir, TEST_DEVICE_UUID).save(signedTarget(r2));
    return dataDir;
  }

  it(`converges after being killed at each of ${KILL_POINTS} points of an update, volume data intact`, async () => {
    await convergeInProcess(r1);
    const [first] = (await managedContainers(docker)).filter((c) => c.service === 'db');
    assert.ok(first);
    const write = await execIn(docker, first.id, ['sh', '-c', `echo ${MARKER} > /data/marker`]);
    assert.equal(write.exitCode, 0, write.output);
    await backToRelease1();

    // A clean run of the same update counts its steps: two kill points per step.
    const reference = start(await deviceWithTarget2());
    await runsWhileAlive(reference, r2, 'the reference update converged');
    const steps = reference.logs().filter((l) => typeof l.step === 'string' && typeof l.ms === 'number').length;
    assert.equal(await reference.stop('SIGTERM'), 0);
    assert.ok(steps * 2 >= KILL_POINTS, `the update has only ${steps} steps`);
    const kinds = new Set(reference.logs().flatMap((l) => (typeof l.step === 'string' ? [l.step] : [])));
    for (const kind of [
      'fetchImage',
      'createNetwork',
      'createVolume',
      'stopContainer',
      'removeContainer',
      'removeNetwork',
      'startService',
    ]) {
      assert.ok(kinds.has(kind), `the update has a ${kind} step (has ${[...kinds].join(', ')})`);
    }

    const points = spread(steps * 2, KILL_POINTS);
    assert.equal(points.length, KILL_POINTS);
    for (const point of points) {
      await backToRelease1();
      const dataDir = await deviceWithTarget2();
      const faulted = start(dataDir, { SKIFF_FAULT_KILL_AT: String(point) });
      const exit = await Promise.race([
        faulted.exited.then(() => faulted.child.signalCode),
        // The reference update takes seconds: a run that has not died by then has passed its last kill point.
        new Promise<string>((r) => setTimeout(() => r('still running'), 30_000)),
      ]);
      assert.equal(exit, 'SIGKILL', `kill point ${point} of ${steps * 2} was not reached:\n${faulted.logText()}`);
      // It died by the kill point, not by chance.
      const kill = faulted.logs().find((l) => l.msg === 'fault injection: killing myself');
      assert.equal(kill?.point, point, `the supervisor died at kill point ${point}:\n${faulted.logText()}`);

      const restarted = start(dataDir);
      const final = await runsWhileAlive(restarted, r2, `r2 ran after a kill at point ${point}`);
      assert.equal(await markerIn(final), MARKER, `volume file after a kill at point ${point}`);
      // The engine may run r2 before the restarted process is up (a kill after the last step): it must also see
      // that it converged, and only then can it take SIGTERM as a shutdown.
      await eventually(
        `the restarted supervisor reports convergence after a kill at point ${point}`,
        30_000,
        async () => (restarted.logs().some((l) => l.msg === 'status' && l.phase === 'converged') ? true : undefined),
      );
      assert.equal(await restarted.stop('SIGTERM'), 0);
      await devices.stopAll(undefined);
    }
  });
});

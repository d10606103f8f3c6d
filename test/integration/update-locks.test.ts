// Update locks and hand-over on the real engine, driven through the reconciler with a real lock root: the service
// itself takes its lock and signals hand-over from inside its container, through the lock directory the supervisor
// bind-mounts at /run/skiff/lock (update-lock.ts).
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ServiceSpec, TargetState } from '../../protocol/target-state.js';
import { createLogger } from '../../lib/logger.js';
import { DockerEngine } from '../../supervisor/engine/engine.js';
import { Reconciler } from '../../supervisor/reconcile/reconciler.js';
import { HANDOVER_TIMEOUT_LABEL, STRATEGY_LABEL } from '../../supervisor/plan/update-strategy.js';
import { LOCK_DIR_IN_CONTAINER, LOCK_FILE, lockDir } from '../../supervisor/plan/lock-paths.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import {
  cleanDevice,
  deviceDocker,
  execIn,
  managedContainers,
  type RunningContainer,
} from '../../harness/supervisor-device.js';
import { serviceSpec, targetState } from '../../harness/supervisor-targets.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const log = createLogger('test-update-locks', { test: 'integration' });
const engine = new DockerEngine(docker, log);

function release(id: string, image: string, extra: Partial<ServiceSpec> = {}, overrideLocks = false): TargetState {
  const target = targetState([serviceSpec('app', image, extra)], { releaseId: id });
  return overrideLocks ? { ...target, config: { ...target.config, overrideLocks: true } } : target;
}

async function exec(container: RunningContainer | undefined, script: string): Promise<void> {
  assert.ok(container, 'the container runs');
  const result = await execIn(docker, container.id, ['sh', '-c', script]);
  assert.equal(result.exitCode, 0, `${script}: ${result.output}`);
}

async function only(): Promise<RunningContainer | undefined> {
  const all = await managedContainers(docker);
  assert.equal(all.length, 1, `one container runs: ${JSON.stringify(all.map((c) => c.labels['io.skiff.release']))}`);
  return all[0];
}

describe('update locks and hand-over (real engine)', function () {
  this.timeout(120_000);
  let lockRoot: string;
  let reconciler: Reconciler;
  let images: string[];

  before(async () => {
    images = await Promise.all(['lock-1', 'lock-2'].map((repo) => buildTestImage(env, { repo })));
  });

  beforeEach(async () => {
    await cleanDevice(docker, { volumes: true });
    lockRoot = await mkdtemp(path.join(tmpdir(), 'skiff-locks-'));
    reconciler = new Reconciler({
      engine,
      log,
      lockRoot,
      dependencyRecheckMs: 100,
      retry: { initialMs: 100, maxMs: 500 },
    });
  });

  afterEach(async () => {
    await cleanDevice(docker, { volumes: true });
    await rm(lockRoot, { recursive: true, force: true });
  });

  async function pass(target: TargetState): Promise<void> {
    reconciler.setTarget(target);
    await reconciler.runPass();
    assert.notEqual(reconciler.currentStatus().phase, 'error', reconciler.currentStatus().error ?? '');
  }

  function image(i: number): string {
    const ref = images[i];
    assert.ok(ref !== undefined);
    return ref;
  }

  it('does not replace a service that holds its update lock until it lets go, and reports it locked', async () => {
    await pass(release('r1', image(0)));
    const old = await only();
    // The service takes its lock the classic way: exclusive create.
    await exec(old, `set -C; : > ${LOCK_DIR_IN_CONTAINER}/${LOCK_FILE}`);
    await pass(release('r2', image(1)));
    assert.deepEqual(reconciler.currentStatus(), { phase: 'applying', error: null, waiting: [], locked: ['app'] });
    assert.equal((await only())?.id, old?.id, 'the locked container still runs');
    assert.equal((await only())?.state, 'running');

    await exec(old, `rm ${LOCK_DIR_IN_CONTAINER}/${LOCK_FILE}`);
    await pass(release('r2', image(1)));
    assert.equal(reconciler.currentStatus().phase, 'converged');
    assert.equal((await only())?.labels['io.skiff.release'], 'r2');
  });

  it("replaces a locked service when the operator overrides locks, leaving the service's lock file alone", async () => {
    await pass(release('r1', image(0)));
    await exec(await only(), `set -C; : > ${LOCK_DIR_IN_CONTAINER}/${LOCK_FILE}`);
    await pass(release('r2', image(1), {}, true));
    assert.equal(reconciler.currentStatus().phase, 'converged');
    assert.equal((await only())?.labels['io.skiff.release'], 'r2');
    await stat(path.join(lockDir(lockRoot, 'app'), LOCK_FILE));
  });

  it('hand-over starts the new container before stopping the old one, which stops once the new one is ready', async () => {
    const handover = { labels: { [STRATEGY_LABEL]: 'hand-over', [HANDOVER_TIMEOUT_LABEL]: '300' } };
    await pass(release('r1', image(0), handover));
    const old = await only();
    await pass(release('r2', image(1), handover));
    assert.equal(reconciler.currentStatus().phase, 'applying');
    const both = await managedContainers(docker);
    assert.deepEqual(both.map((c) => [c.labels['io.skiff.release'], c.state]).sort(), [
      ['r1', 'running'],
      ['r2', 'running'],
    ]);
    // A second pass does not end it early: the new one has not signalled yet.
    await pass(release('r2', image(1), handover));
    assert.equal((await managedContainers(docker)).length, 2);

    const successor = both.find((c) => c.id !== old?.id);
    await exec(successor, `touch ${LOCK_DIR_IN_CONTAINER}/handover.ready`);
    await pass(release('r2', image(1), handover));
    assert.equal(reconciler.currentStatus().phase, 'converged');
    assert.equal((await only())?.id, successor?.id);
  });

  it('hand-over stops the old container after the timeout when the new one never signals', async () => {
    const handover = { labels: { [STRATEGY_LABEL]: 'hand-over', [HANDOVER_TIMEOUT_LABEL]: '3' } };
    await pass(release('r1', image(0), handover));
    await pass(release('r2', image(1), handover));
    assert.equal((await managedContainers(docker)).length, 2, 'old and new run side by side');
    await new Promise((r) => setTimeout(r, 3_500));
    await pass(release('r2', image(1), handover));
    assert.equal(reconciler.currentStatus().phase, 'converged');
    assert.equal((await only())?.labels['io.skiff.release'], 'r2');
  });
});

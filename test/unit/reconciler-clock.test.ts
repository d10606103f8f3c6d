// One reconcile pass reads one clock, the injected one, once per plan: that time is what the planner judges a
// hand-over timeout by (and what the update window is judged by). Driven through a hand-over: the old container
// goes only once the injected time is past the new container's creation plus the hand-over timeout, whatever the
// machine's own clock says.
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { createLogger } from '../../lib/logger.js';
import type { TargetState } from '../../protocol/target-state.js';
import type { Engine, EngineContainer, EngineNetwork, EngineImage } from '../../supervisor/engine/engine.js';
import { desiredState } from '../../supervisor/plan/desired-state.js';
import { LABELS } from '../../supervisor/plan/naming.js';
import { Reconciler } from '../../supervisor/reconcile/reconciler.js';
import { fakeImage, serviceSpec, targetState } from '../../harness/supervisor-targets.js';

const HANDOVER_TIMEOUT_SECONDS = 30;
const imgA1 = fakeImage('a', 'a1');
const imgA2 = fakeImage('a', 'a2');
const handOver = (image: string, releaseId: string): TargetState =>
  targetState(
    [
      serviceSpec('a', image, {
        labels: {
          'io.skiff.update-strategy': 'hand-over',
          'io.skiff.handover-timeout': String(HANDOVER_TIMEOUT_SECONDS),
        },
      }),
    ],
    { releaseId },
  );
const r1 = handOver(imgA1, 'r1');
const r2 = handOver(imgA2, 'r2');

/** An engine in memory: r2's new container runs next to r1's old one; records what the reconciler does to it. */
class HandOverEngine implements Engine {
  readonly calls: string[] = [];
  private containers: EngineContainer[];
  private readonly networks: EngineNetwork[];

  constructor(newCreatedAt: Date) {
    const container = (target: TargetState, id: string, createdAt: Date): EngineContainer => {
      const d = desiredState(target).containers[0]!;
      return {
        id,
        name: d.name,
        labels: d.options.Labels ?? {},
        image: d.image,
        state: 'running',
        health: null,
        exitCode: null,
        createdAt: createdAt.toISOString(),
        networks: d.networks,
        stopTimeoutSeconds: null,
      };
    };
    this.containers = [
      container(r1, 'old', new Date(newCreatedAt.getTime() - 3_600_000)),
      container(r2, 'new', newCreatedAt),
    ];
    this.networks = desiredState(r2).networks.map((n, i) => ({
      id: `net${i}`,
      name: n.name,
      labels: n.labels,
      containerCount: 1,
    }));
    assert.equal(this.networks[0]?.labels[LABELS.managed], 'true');
  }

  async listContainers(): Promise<EngineContainer[]> {
    this.calls.push('listContainers');
    return this.containers;
  }
  async listNetworks(): Promise<EngineNetwork[]> {
    return this.networks;
  }
  async listVolumes(): Promise<string[]> {
    return [];
  }
  async inspectImage(ref: string): Promise<EngineImage | undefined> {
    // Both releases' images are here (pulled by digest); nothing is to be fetched.
    return ref === imgA1 || ref === imgA2
      ? { id: `sha256:${'0'.repeat(64)}`, repoTags: [], repoDigests: [ref], size: 1, createdAt: '', diffIds: [] }
      : undefined;
  }
  async stopContainer(id: string): Promise<void> {
    this.calls.push(`stop ${id}`);
  }
  async removeContainer(id: string): Promise<void> {
    this.calls.push(`remove ${id}`);
    this.containers = this.containers.filter((c) => c.id !== id);
  }
  private unused(name: string): never {
    throw new Error(`the reconciler was not expected to call engine.${name} here`);
  }
  hasImage(): Promise<boolean> {
    return this.unused('hasImage');
  }
  pullImage(): Promise<void> {
    return this.unused('pullImage');
  }
  listImages(): Promise<never[]> {
    return this.unused('listImages');
  }
  removeImage(): Promise<'removed'> {
    return this.unused('removeImage');
  }
  diskUsage(): Promise<never> {
    return this.unused('diskUsage');
  }
  dataRootSpace(): Promise<undefined> {
    return this.unused('dataRootSpace');
  }
  saveImages(): Promise<Readable> {
    return this.unused('saveImages');
  }
  loadImage(): Promise<string[]> {
    return this.unused('loadImage');
  }
  createContainer(): Promise<string> {
    return this.unused('createContainer');
  }
  startContainer(): Promise<void> {
    return this.unused('startContainer');
  }
  restartContainer(): Promise<void> {
    return this.unused('restartContainer');
  }
  containerLogs(): Promise<never[]> {
    return this.unused('containerLogs');
  }
  createNetwork(): Promise<void> {
    return this.unused('createNetwork');
  }
  removeNetwork(): Promise<void> {
    return this.unused('removeNetwork');
  }
  createVolume(): Promise<void> {
    return this.unused('createVolume');
  }
}

/** One pass on r2 with the clock standing at `now`; returns the engine's record and how often the clock was read. */
async function passAt(newCreatedAt: Date, now: Date) {
  const engine = new HandOverEngine(newCreatedAt);
  let reads = 0;
  const reconciler = new Reconciler({
    engine,
    log,
    clock: () => {
      reads++;
      return now;
    },
  });
  reconciler.setTarget(r2);
  await reconciler.runPass();
  const plans = engine.calls.filter((c) => c === 'listContainers').length;
  return {
    calls: engine.calls.filter((c) => c !== 'listContainers'),
    reads,
    plans,
    status: reconciler.currentStatus(),
  };
}

const log = createLogger('reconciler-clock-test');
log.level = 'silent';

const seconds = (at: Date, s: number): Date => new Date(at.getTime() + s * 1_000);

describe('a reconcile pass and its clock', () => {
  // Long ago: the machine's clock is far past the hand-over timeout, the injected one is not.
  const past = new Date(Date.UTC(2020, 0, 1));
  // Far ahead: the machine's clock has not even reached the new container's creation, the injected one is past it.
  const future = new Date(Date.UTC(2100, 0, 1));

  it('keeps the old container while the injected time is within the hand-over timeout', async () => {
    const pass = await passAt(past, seconds(past, 5));
    assert.deepEqual(pass.calls, []);
    assert.equal(pass.status.phase, 'applying');
    assert.equal(pass.reads, pass.plans, 'one clock read per plan');
  });

  it('retires the old container once the injected time is past the hand-over timeout', async () => {
    const pass = await passAt(future, seconds(future, HANDOVER_TIMEOUT_SECONDS + 1));
    assert.deepEqual(pass.calls, ['stop old', 'remove old']);
    assert.equal(pass.status.phase, 'converged');
    assert.equal(pass.plans, 2);
    assert.equal(pass.reads, pass.plans, 'one clock read per plan');
  });
});

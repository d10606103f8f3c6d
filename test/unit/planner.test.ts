import assert from 'node:assert/strict';
import type { TargetState } from '../../protocol/target-state.js';
import type { CurrentState, ObservedContainer } from '../../supervisor/plan/observed.js';
import { desiredState } from '../../supervisor/plan/desired-state.js';
import {
  NO_CONTEXT,
  plan,
  planUpdate,
  waitingFor,
  type PlanContext,
  type Step,
} from '../../supervisor/plan/planner.js';
import type { DiskFacts } from '../../supervisor/plan/disk-space.js';
import { RESERVE_BYTES } from '../../supervisor/plan/disk-space.js';
import { strategyIssues } from '../../supervisor/plan/update-strategy.js';
import { fakeImage, serviceSpec, targetState } from '../../harness/supervisor-targets.js';

let ids = 0;

/** A container exactly as the supervisor would have created it for `service` of `target`. */
function containerFor(target: TargetState, service: string, extra: Partial<ObservedContainer> = {}): ObservedContainer {
  const d = desiredState(target).containers.find((c) => c.service === service);
  assert.ok(d, `no service ${service} in target`);
  ids++;
  return {
    id: `c${String(ids).padStart(3, '0')}`.padEnd(64, '0'),
    name: d.name,
    service,
    releaseId: target.release?.id ?? null,
    configHash: d.configHash,
    image: d.image,
    state: 'running',
    health: null,
    exitCode: null,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, ids)).toISOString(),
    networks: d.networks,
    stopTimeoutSeconds: null,
    ...extra,
  };
}

/** The engine after `target` was applied: its images, networks and volumes exist, plus `containers`. */
function engineWith(
  target: TargetState,
  containers: ObservedContainer[],
  extra: Partial<CurrentState> = {},
): CurrentState {
  const desired = desiredState(target);
  return {
    containers,
    images: desired.containers.map((c) => c.image),
    networks: desired.networks.map((n, i) => ({ id: `net${i}`, name: n.name, managed: true, inUse: false })),
    volumes: desired.volumes.map((v) => v.name),
    ...extra,
  };
}

const empty: CurrentState = { containers: [], images: [], networks: [], volumes: [] };

function kinds(steps: Step[]): string[] {
  return steps.map((s) => s.kind);
}

function startedServices(steps: Step[]): string[] {
  return steps.flatMap((s) => (s.kind === 'startService' ? [s.container.service] : [])).sort();
}

function touchedContainers(steps: Step[]): string[] {
  return steps.flatMap((s) =>
    s.kind === 'stopContainer' || s.kind === 'removeContainer' || s.kind === 'startContainer' ? [s.containerId] : [],
  );
}

const imgA1 = fakeImage('a', 'a1');
const imgB1 = fakeImage('b', 'b1');
const imgB2 = fakeImage('b', 'b2');

const v1 = targetState([serviceSpec('a', imgA1), serviceSpec('b', imgB1)], { releaseId: 'r1' });

describe('planner', () => {
  it('creates everything from empty, fetching images before anything starts', () => {
    const first = plan(empty, v1);
    assert.deepEqual(kinds(first).sort(), ['createNetwork', 'fetchImage', 'fetchImage']);
    assert.deepEqual(first.flatMap((s) => (s.kind === 'fetchImage' ? [s.image] : [])).sort(), [imgA1, imgB1].sort());

    const withImages: CurrentState = { ...empty, images: [imgA1, imgB1] };
    const second = plan(withImages, v1);
    assert.deepEqual(kinds(second), ['createNetwork', 'startService', 'startService']);
    assert.deepEqual(startedServices(second), ['a', 'b']);
  });

  it('is empty when the engine runs the target', () => {
    const current = engineWith(v1, [containerFor(v1, 'a'), containerFor(v1, 'b')]);
    assert.deepEqual(plan(current, v1), []);
    assert.deepEqual(waitingFor(current, v1), []);
  });

  it('replaces only the service whose definition changed', () => {
    const a = containerFor(v1, 'a');
    const b = containerFor(v1, 'b', { stopTimeoutSeconds: 7 });
    const v2 = targetState([serviceSpec('a', imgA1), serviceSpec('b', imgB2)], { releaseId: 'r2' });
    const steps = plan(engineWith(v2, [a, b]), v2);
    assert.deepEqual(steps, [
      { kind: 'stopContainer', service: 'b', containerId: b.id, timeoutSeconds: 7 },
      { kind: 'removeContainer', service: 'b', containerId: b.id },
      { kind: 'startService', container: desiredState(v2).containers[1] },
    ]);
    assert.ok(!touchedContainers(steps).includes(a.id));
  });

  it('keeps a container created by an older release when its definition is unchanged', () => {
    const v2 = targetState(v1.services, { releaseId: 'r2' });
    assert.deepEqual(plan(engineWith(v2, [containerFor(v1, 'a'), containerFor(v1, 'b')]), v2), []);
  });

  it('replaces a container when only the injected config env changed', () => {
    const withEnv = targetState(v1.services, { releaseId: 'r1', env: { METER_PORT: '/dev/ttyUSB1' } });
    const steps = plan(engineWith(withEnv, [containerFor(v1, 'a'), containerFor(v1, 'b')]), withEnv);
    assert.deepEqual(startedServices(steps), ['a', 'b']);
  });

  it('while an image is missing, only fetches and touches no container', () => {
    const a = containerFor(v1, 'a');
    const b = containerFor(v1, 'b');
    const v2 = targetState([serviceSpec('a', imgA1)], { releaseId: 'r2', volumes: ['data'] });
    const v3 = targetState([serviceSpec('a', imgA1), serviceSpec('b', imgB2)], { releaseId: 'r3', volumes: ['data'] });
    const current = engineWith(v1, [a, b]);
    const steps = plan(current, v3);
    assert.deepEqual(kinds(steps), ['fetchImage', 'createVolume']);
    assert.deepEqual(steps[0], { kind: 'fetchImage', image: imgB2 });
    assert.deepEqual(touchedContainers(steps), []);
    // Once the image is there, the same target removes and starts.
    const afterFetch = plan({ ...current, images: [imgA1, imgB2], volumes: ['skiff_data'] }, v3);
    assert.deepEqual(kinds(afterFetch), ['stopContainer', 'removeContainer', 'startService']);
    // v2 only drops a service: no image is missing, so the removal happens right away.
    assert.deepEqual(kinds(plan(engineWith(v2, [a, b]), v2)), ['stopContainer', 'removeContainer']);
  });

  it('removes the containers of a service dropped from the target', () => {
    const a = containerFor(v1, 'a');
    const b = containerFor(v1, 'b');
    const stopped = containerFor(v1, 'b', { state: 'exited', exitCode: 0 });
    const v2 = targetState([serviceSpec('a', imgA1)], { releaseId: 'r2' });
    const steps = plan(engineWith(v2, [a, b, stopped]), v2);
    assert.deepEqual(steps, [
      { kind: 'stopContainer', service: 'b', containerId: b.id, timeoutSeconds: 10 },
      { kind: 'removeContainer', service: 'b', containerId: b.id },
      { kind: 'removeContainer', service: 'b', containerId: stopped.id },
    ]);
  });

  it('removes managed containers that belong to no service', () => {
    const orphan = containerFor(v1, 'a', { service: null, state: 'exited', exitCode: 1 });
    const steps = plan(engineWith(v1, [containerFor(v1, 'a'), containerFor(v1, 'b'), orphan]), v1);
    assert.deepEqual(steps, [{ kind: 'removeContainer', service: null, containerId: orphan.id }]);
  });

  it('starts a service only when its dependencies satisfy their condition', () => {
    const t = targetState([
      serviceSpec('api', imgA1, { dependsOn: { db: 'service_healthy', migrate: 'service_completed_successfully' } }),
      serviceSpec('db', imgB1, { healthcheck: { test: ['CMD', 'true'] } }),
      serviceSpec('migrate', imgB2, { restart: 'no', dependsOn: { db: 'service_started' } }),
    ]);
    const fresh = engineWith(t, []);
    assert.deepEqual(startedServices(plan(fresh, t)), ['db']);

    const dbStarting = containerFor(t, 'db', { health: 'starting' });
    const s1 = engineWith(t, [dbStarting]);
    assert.deepEqual(startedServices(plan(s1, t)), ['migrate']);
    assert.deepEqual(
      waitingFor(s1, t)
        .filter((w) => w.service === 'api')
        .map((w) => w.dependency)
        .sort(),
      ['db', 'migrate'],
    );

    const migrateRunning = containerFor(t, 'migrate');
    const dbHealthy = { ...dbStarting, health: 'healthy' as const };
    assert.deepEqual(plan(engineWith(t, [dbHealthy, migrateRunning]), t), []);
    assert.deepEqual(waitingFor(engineWith(t, [dbHealthy, migrateRunning]), t), [
      { service: 'api', dependency: 'migrate', condition: 'service_completed_successfully' },
    ]);

    const migrateFailed = { ...migrateRunning, state: 'exited' as const, exitCode: 1 };
    assert.deepEqual(plan(engineWith(t, [dbHealthy, migrateFailed]), t), []);

    const migrateDone = { ...migrateRunning, state: 'exited' as const, exitCode: 0 };
    assert.deepEqual(startedServices(plan(engineWith(t, [dbHealthy, migrateDone]), t)), ['api']);
  });

  it('holds back a dependent while its dependency is being replaced', () => {
    const t1 = targetState([
      serviceSpec('api', imgA1, { dependsOn: { db: 'service_started' } }),
      serviceSpec('db', imgB1),
    ]);
    const t2 = targetState([
      serviceSpec('api', imgA1, { dependsOn: { db: 'service_started' }, environment: { X: '1' } }),
      serviceSpec('db', imgB2),
    ]);
    const current = engineWith(t2, [containerFor(t1, 'api'), containerFor(t1, 'db')]);
    const steps = plan(current, t2);
    assert.deepEqual(kinds(steps), [
      'stopContainer',
      'removeContainer',
      'stopContainer',
      'removeContainer',
      'startService',
    ]);
    assert.deepEqual(startedServices(steps), ['db']);
  });

  it('removes duplicate containers of a service, keeping the running one', () => {
    const running = containerFor(v1, 'a');
    const older = containerFor(v1, 'a', { state: 'exited', exitCode: 0, createdAt: '2020-01-01T00:00:00Z' });
    const alsoRunning = containerFor(v1, 'a', { createdAt: '2020-01-01T00:00:00Z' });
    const steps = plan(engineWith(v1, [older, running, alsoRunning, containerFor(v1, 'b')]), v1);
    assert.deepEqual(steps, [
      { kind: 'removeContainer', service: 'a', containerId: older.id },
      { kind: 'stopContainer', service: 'a', containerId: alsoRunning.id, timeoutSeconds: 10 },
      { kind: 'removeContainer', service: 'a', containerId: alsoRunning.id },
    ]);
    assert.ok(!touchedContainers(steps).includes(running.id));
  });

  it('never removes volumes, also not those the target dropped', () => {
    const t1 = targetState(
      [serviceSpec('db', imgB1, { volumes: [{ type: 'volume', source: 'data', target: '/data', readOnly: false }] })],
      { volumes: ['data'] },
    );
    const t2 = targetState([serviceSpec('a', imgA1)], { releaseId: 'r2' });
    const current = engineWith(t1, [containerFor(t1, 'db')], {
      images: [imgA1, imgB1],
      volumes: ['skiff_data', 'unrelated'],
    });
    const steps = plan(current, t2);
    assert.deepEqual(kinds(steps), ['stopContainer', 'removeContainer', 'startService']);
    assert.ok(steps.every((s) => !JSON.stringify(s).includes('skiff_data')));
  });

  it('creates the named volumes and networks a service uses', () => {
    const t = targetState([
      serviceSpec('db', imgB1, {
        volumes: [{ type: 'volume', source: 'data', target: '/data', readOnly: false }],
        networks: { backend: { aliases: ['database'] } },
      }),
    ]);
    const steps = plan({ ...empty, images: [imgB1] }, t);
    assert.deepEqual(
      steps.flatMap((s) =>
        s.kind === 'createNetwork' ? [s.network.name] : s.kind === 'createVolume' ? [s.volume.name] : [],
      ),
      ['skiff_backend', 'skiff_data'],
    );
  });

  it('starts a stopped container of the right definition instead of recreating it', () => {
    const created = containerFor(v1, 'a', { state: 'created' });
    const exited = containerFor(v1, 'b', { state: 'exited', exitCode: 137 });
    assert.deepEqual(plan(engineWith(v1, [created, exited]), v1), [
      { kind: 'startContainer', service: 'a', containerId: created.id },
      { kind: 'startContainer', service: 'b', containerId: exited.id },
    ]);
  });

  it('leaves a finished one-shot container alone', () => {
    const t = targetState([
      serviceSpec('once', imgA1, { restart: 'no' }),
      serviceSpec('retry', imgB1, { restart: 'on-failure' }),
    ]);
    const current = engineWith(t, [
      containerFor(t, 'once', { state: 'exited', exitCode: 0 }),
      containerFor(t, 'retry', { state: 'exited', exitCode: 0 }),
    ]);
    assert.deepEqual(plan(current, t), []);
  });

  it('recreates a container that lost one of its networks', () => {
    const a = containerFor(v1, 'a', { networks: [] });
    const steps = plan(engineWith(v1, [a, containerFor(v1, 'b')]), v1);
    assert.deepEqual(kinds(steps), ['stopContainer', 'removeContainer', 'startService']);
  });

  it('removes a managed network the target no longer has, once nothing is attached', () => {
    const old = { id: 'netold', name: 'skiff_legacy', managed: true, inUse: false };
    const a = containerFor(v1, 'a');
    const b = containerFor(v1, 'b');
    const base = engineWith(v1, [a, b]);
    assert.deepEqual(plan({ ...base, networks: [...base.networks, old] }, v1), [
      { kind: 'removeNetwork', networkId: 'netold', name: 'skiff_legacy' },
    ]);
    assert.deepEqual(plan({ ...base, networks: [...base.networks, { ...old, inUse: true }] }, v1), []);
    const attachedB = { ...b, networks: [...b.networks, 'skiff_legacy'] };
    assert.deepEqual(plan({ ...base, containers: [a, attachedB], networks: [...base.networks, old] }, v1), []);
    const foreign = { id: 'bridge0', name: 'bridge', managed: false, inUse: false };
    assert.deepEqual(plan({ ...base, networks: [...base.networks, foreign] }, v1), []);
  });

  it('uses a network of the wanted name that Skiff did not create, instead of creating it again', () => {
    const a = containerFor(v1, 'a');
    const b = containerFor(v1, 'b');
    const base = engineWith(v1, [a, b]);
    const unlabelled = base.networks.map((n) => ({ ...n, managed: false }));
    assert.deepEqual(plan({ ...base, networks: unlabelled }, v1), []);
  });

  describe('update strategies, locks and disk space', () => {
    const imgA2 = fakeImage('a', 'a2');
    const strategy = (name: string): Record<string, string> => ({ 'io.skiff.update-strategy': name });
    const withStrategy = (name: string, image: string, releaseId: string): TargetState =>
      targetState([serviceSpec('a', image, { labels: strategy(name) }), serviceSpec('b', imgB1)], { releaseId });
    const ctx = (extra: Partial<PlanContext> = {}): PlanContext => ({
      ...NO_CONTEXT,
      now: new Date(Date.UTC(2026, 0, 1, 0, 1)),
      ...extra,
    });

    it('kill-then-download stops the old container before fetching, after every other image is there', () => {
      const t1 = withStrategy('kill-then-download', imgA1, 'r1');
      const t2 = targetState(
        [serviceSpec('a', imgA2, { labels: strategy('kill-then-download') }), serviceSpec('b', imgB2)],
        { releaseId: 'r2' },
      );
      const a = containerFor(t1, 'a');
      const b = containerFor(t1, 'b');
      const base = engineWith(t1, [a, b]);
      // b (download-then-kill) first: only b's image is fetched, nothing is touched.
      assert.deepEqual(plan(base, t2), [{ kind: 'fetchImage', image: imgB2 }]);
      // Then both old containers go, b's successor starts; a's image is not fetched yet.
      const afterB = { ...base, images: [...base.images, imgB2] };
      const steps = plan(afterB, t2);
      assert.deepEqual(kinds(steps), [
        'stopContainer',
        'removeContainer',
        'stopContainer',
        'removeContainer',
        'startService',
      ]);
      assert.deepEqual(startedServices(steps), ['b']);
      // With a gone, its image is fetched, then a starts.
      assert.deepEqual(plan({ ...afterB, containers: [containerFor(t2, 'b')] }, t2), [
        { kind: 'fetchImage', image: imgA2 },
      ]);
    });

    it('delete-then-download also removes the old image, unless something still uses it', () => {
      const t1 = withStrategy('delete-then-download', imgA1, 'r1');
      const t2 = withStrategy('delete-then-download', imgA2, 'r2');
      const a = containerFor(t1, 'a');
      const b = containerFor(t1, 'b');
      const steps = plan(engineWith(t1, [a, b]), t2);
      assert.deepEqual(steps, [
        { kind: 'stopContainer', service: 'a', containerId: a.id, timeoutSeconds: 10 },
        { kind: 'removeContainer', service: 'a', containerId: a.id },
        { kind: 'removeImage', image: imgA1, reason: 'delete-then-download' },
      ]);
      // b runs imgA1 too: the image stays.
      const bOnA = containerFor(t1, 'b', { image: imgA1 });
      assert.ok(!kinds(plan(engineWith(t1, [a, bOnA]), t2)).includes('removeImage'));
    });

    it('hand-over starts the new container first and stops the old one once it is ready', () => {
      const t1 = withStrategy('hand-over', imgA1, 'r1');
      const t2 = targetState(
        [
          serviceSpec('a', imgA2, { labels: { ...strategy('hand-over'), 'io.skiff.handover-timeout': '30' } }),
          serviceSpec('b', imgB1),
        ],
        { releaseId: 'r2' },
      );
      const a = containerFor(t1, 'a');
      const b = containerFor(t1, 'b');
      const base = { ...engineWith(t1, [a, b]), images: [imgA1, imgA2, imgB1] };
      const first = planUpdate(base, t2, ctx());
      assert.deepEqual(kinds(first.steps), ['startService']);
      assert.deepEqual(first.handingOver, ['a']);

      const created = new Date(Date.UTC(2026, 0, 1, 0, 0, 50));
      const next = containerFor(t2, 'a', { createdAt: created.toISOString() });
      const both = { ...base, containers: [a, next, b] };
      const waiting = planUpdate(both, t2, ctx({ now: new Date(created.getTime() + 5_000) }));
      assert.deepEqual(waiting.steps, []);
      assert.deepEqual(waiting.handingOver, ['a']);
      // A hand-over file older than the new container does not count; a fresh one does.
      const stale = planUpdate(
        both,
        t2,
        ctx({
          now: new Date(created.getTime() + 5_000),
          handovers: new Map([['a', new Date(created.getTime() - 60_000)]]),
        }),
      );
      assert.deepEqual(stale.steps, []);
      const signalled = planUpdate(
        both,
        t2,
        ctx({
          now: new Date(created.getTime() + 5_000),
          handovers: new Map([['a', new Date(created.getTime() + 2_000)]]),
        }),
      );
      assert.deepEqual(kinds(signalled.steps), ['stopContainer', 'removeContainer']);
      assert.deepEqual(touchedContainers(signalled.steps), [a.id, a.id]);
      // Healthy counts as ready, and so does the timeout.
      assert.deepEqual(
        kinds(plan({ ...both, containers: [a, { ...next, health: 'healthy' }, b] }, t2, ctx({ now: created }))),
        ['stopContainer', 'removeContainer'],
      );
      assert.deepEqual(kinds(plan(both, t2, ctx({ now: new Date(created.getTime() + 30_000) }))), [
        'stopContainer',
        'removeContainer',
      ]);
    });

    it('refuses hand-over for a service that publishes host ports, and unknown strategies', () => {
      const t = targetState([
        serviceSpec('web', imgA1, {
          labels: strategy('hand-over'),
          ports: [{ target: 80, published: 8080, protocol: 'tcp' }],
        }),
        serviceSpec('x', imgB1, { labels: strategy('eventually') }),
        serviceSpec('ok', imgB2, { labels: strategy('hand-over'), ports: [{ target: 80, protocol: 'tcp' }] }),
      ]);
      const issues = strategyIssues(t);
      assert.equal(issues.length, 2);
      assert.match(issues[0]?.message ?? '', /both would publish host port\(s\) 8080:80\/tcp/);
      assert.equal(issues[0]?.path, '/services/0/labels/io.skiff.update-strategy');
      assert.match(issues[1]?.message ?? '', /'eventually' is not an update strategy/);
    });

    it('a service holding its lock holds back every stop of the release, not the services that stay', () => {
      const a = containerFor(v1, 'a');
      const b = containerFor(v1, 'b');
      const v2 = targetState([serviceSpec('a', imgA2), serviceSpec('b', imgB2)], { releaseId: 'r2' });
      const current = { ...engineWith(v1, [a, b]), images: [imgA1, imgB1, imgA2, imgB2] };
      const held = planUpdate(current, v2, ctx({ locks: new Set(['b']) }));
      assert.deepEqual(held.steps, []);
      assert.deepEqual(held.locked, ['b']);
      // The operator's override, and a lock of a service the release does not change, let it go ahead.
      const overridden = { ...v2, config: { ...v2.config, overrideLocks: true } };
      assert.deepEqual(
        kinds(plan(current, overridden, ctx({ locks: new Set(['b']) }))).filter((k) => k === 'stopContainer'),
        ['stopContainer', 'stopContainer'],
      );
      const onlyA = targetState([serviceSpec('a', imgA2), serviceSpec('b', imgB1)], { releaseId: 'r2' });
      const free = planUpdate(current, onlyA, ctx({ locks: new Set(['b']) }));
      assert.deepEqual(free.locked, []);
      assert.deepEqual(touchedContainers(free.steps), [a.id, a.id]);
      // A stopped container's lock is stale: nothing runs that could be in a critical section.
      const exited = { ...b, state: 'exited' as const, exitCode: 0 };
      assert.deepEqual(
        planUpdate({ ...current, containers: [a, exited] }, v2, ctx({ locks: new Set(['b']) })).locked,
        [],
      );
    });

    it('fetches only what fits, removing unused images first, and refuses an update that cannot fit', () => {
      const MB = 1024 * 1024;
      const a = containerFor(v1, 'a');
      const b = containerFor(v1, 'b');
      const v2 = targetState([serviceSpec('a', imgA2), serviceSpec('b', imgB2)], { releaseId: 'r2' });
      const current = engineWith(v1, [a, b]);
      const disk = (freeMb: number, unused: [string, number][] = []): DiskFacts => ({
        path: '/var/lib/docker',
        freeBytes: freeMb * MB + RESERVE_BYTES,
        needs: { [imgA2]: 30 * MB, [imgB2]: 20 * MB },
        unused: unused.map(([id, mb]) => ({ id, bytes: mb * MB })),
        inUse: {},
      });
      assert.deepEqual(kinds(plan(current, v2, ctx({ disk: disk(60) }))), ['fetchImage', 'fetchImage']);
      assert.deepEqual(
        plan(
          current,
          v2,
          ctx({
            disk: disk(40, [
              ['sha256:small', 5],
              ['sha256:big', 15],
              ['sha256:more', 10],
            ]),
          }),
        ),
        [{ kind: 'removeImage', image: 'sha256:big', reason: 'room for the update' }],
      );
      const short = planUpdate(current, v2, ctx({ disk: disk(10, [['sha256:old', 5]]) }));
      assert.deepEqual(short.steps, []);
      assert.match(
        short.error ?? '',
        /needs 50 MB \(\+64 MB kept free\), 74 MB free on \/var\/lib\/docker, 5 MB more after removing/,
      );
    });

    it("refuses an update whose blobs do not fit in the supervisor's download directory, whatever the engine's disk", () => {
      const MB = 1024 * 1024;
      const v2 = targetState([serviceSpec('a', imgA2), serviceSpec('b', imgB2)], { releaseId: 'r2' });
      const current = engineWith(v1, [containerFor(v1, 'a'), containerFor(v1, 'b')]);
      const disk = (downloadFreeMb: number): DiskFacts => ({
        path: '/var/lib/docker',
        freeBytes: 1024 * MB,
        needs: { [imgA2]: 30 * MB, [imgB2]: 20 * MB },
        unused: [{ id: 'sha256:old', bytes: 500 * MB }],
        inUse: {},
        download: {
          path: '/data/skiff/blobs',
          freeBytes: downloadFreeMb * MB,
          needs: { [imgA2]: 6 * MB, [imgB2]: 3 * MB },
        },
      });
      assert.deepEqual(kinds(plan(current, v2, ctx({ disk: disk(10) }))), ['fetchImage', 'fetchImage']);
      const short = planUpdate(current, v2, ctx({ disk: disk(9) }));
      assert.deepEqual(short.steps, [], 'removing engine images frees nothing there');
      assert.match(
        short.error ?? '',
        /download directory for the update: its images need 9 MB more there \(\+1 MB kept free\), 9 MB free in \/data\/skiff\/blobs/,
      );
    });
  });

  describe('services held stopped through the local API', () => {
    const held = (...services: string[]): PlanContext => ({ ...NO_CONTEXT, held: new Set(services) });
    const stopped = (c: ObservedContainer): ObservedContainer => ({ ...c, state: 'exited', exitCode: 137 });

    it('never starts a held service, and starts it again once released', () => {
      const a = containerFor(v1, 'a');
      const b = stopped(containerFor(v1, 'b'));
      const current = engineWith(v1, [a, b]);
      // restart: always brings a stopped container back unless it is held.
      assert.deepEqual(plan(current, v1), [{ kind: 'startContainer', service: 'b', containerId: b.id }]);
      const heldPlan = planUpdate(current, v1, held('b'));
      assert.deepEqual(heldPlan.steps, []);
      assert.deepEqual(heldPlan.waiting, []);
      // A container that was only created stays so as well.
      const created = { ...b, state: 'created' as const, exitCode: null };
      assert.deepEqual(plan(engineWith(v1, [a, created]), v1, held('b')), []);
      assert.deepEqual(plan(engineWith(v1, [a, created]), v1), [
        { kind: 'startContainer', service: 'b', containerId: b.id },
      ]);
    });

    it('applies an update of a held service by creating its new container without starting it', () => {
      const a = containerFor(v1, 'a');
      const b = stopped(containerFor(v1, 'b'));
      const v2 = targetState([serviceSpec('a', imgA1), serviceSpec('b', imgB2)], { releaseId: 'r2' });
      const current = engineWith(v1, [a, b]);
      assert.deepEqual(plan(current, v2, held('b')), [{ kind: 'fetchImage', image: imgB2 }]);
      const fetched = { ...current, images: [...current.images, imgB2] };
      const newB = desiredState(v2).containers.find((c) => c.service === 'b');
      assert.ok(newB);
      assert.deepEqual(plan(fetched, v2, held('b')), [
        { kind: 'removeContainer', service: 'b', containerId: b.id },
        { kind: 'createService', container: newB },
      ]);
      // Created: nothing more to do while held; the same plan without the hold starts the service.
      const createdB = { ...containerFor(v2, 'b'), state: 'created' as const };
      const after = { ...fetched, containers: [a, createdB] };
      assert.deepEqual(plan(after, v2, held('b')), []);
      assert.deepEqual(
        plan(fetched, v2).map((s) => s.kind),
        ['removeContainer', 'startService'],
      );
    });

    it('creates a held service regardless of its dependencies, and its dependents wait for it', () => {
      const t = targetState(
        [serviceSpec('db', imgA1), serviceSpec('app', imgB1, { dependsOn: { db: 'service_started' } })],
        { releaseId: 'r1' },
      );
      const steps = planUpdate(engineWith(t, []), t, held('app', 'db'));
      assert.deepEqual(
        steps.steps.map((s) => [s.kind, s.kind === 'createService' ? s.container.service : '']),
        [
          ['createService', 'app'],
          ['createService', 'db'],
        ],
      );
      assert.deepEqual(steps.waiting, []);
      // Only db held: app waits for a db that stays down, and says so.
      const dbCreated = { ...containerFor(t, 'db'), state: 'created' as const };
      const onlyDb = planUpdate(engineWith(t, [dbCreated]), t, held('db'));
      assert.deepEqual(onlyDb.steps, []);
      assert.deepEqual(onlyDb.waiting, [{ service: 'app', dependency: 'db', condition: 'service_started' }]);
    });
  });

  describe('network_mode service:', () => {
    const vpnSpec = (server: string) => serviceSpec('vpn', fakeImage('vpn', 'v1'), { environment: { SERVER: server } });
    const scraper = serviceSpec('scraper', fakeImage('scraper', 's1'), {
      networks: {},
      networkService: 'vpn',
      dependsOn: { vpn: 'service_started' },
    });
    const before = targetState([vpnSpec('a'), scraper]);
    const after = targetState([vpnSpec('b'), scraper], { releaseId: 'rel-2' });

    it('recreates the dependent with the service whose network namespace it joins, after it', () => {
      const running = engineWith(before, [containerFor(before, 'vpn'), containerFor(before, 'scraper')]);
      const first = plan(running, after);
      // Both old containers go (the scraper's namespace is the old vpn's); only the vpn starts in this pass.
      assert.deepEqual(first.flatMap((s) => (s.kind === 'removeContainer' ? [s.service] : [])).sort(), [
        'scraper',
        'vpn',
      ]);
      assert.deepEqual(
        first.flatMap((s) => (s.kind === 'startService' ? [s.container.service] : [])),
        ['vpn'],
      );
      const vpnNow = containerFor(after, 'vpn');
      const second = plan(engineWith(after, [vpnNow]), after);
      const start = second.find((s) => s.kind === 'startService');
      assert.equal(
        start?.kind === 'startService' ? start.container.options.HostConfig?.NetworkMode : '',
        `container:${vpnNow.name}`,
      );
    });

    it('leaves both alone when neither changed', () => {
      const running = engineWith(before, [containerFor(before, 'vpn'), containerFor(before, 'scraper')]);
      assert.deepEqual(plan(running, before), []);
    });
  });
});

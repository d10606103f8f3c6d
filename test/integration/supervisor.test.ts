// The reconciler against the real device engine, images pulled from the real registry.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TargetState } from '../../protocol/target-state.js';
import { createLogger } from '../../lib/logger.js';
import { readCurrentState } from '../../supervisor/reconcile/current-state.js';
import { DockerEngine } from '../../supervisor/engine/engine.js';
import { Reconciler } from '../../supervisor/reconcile/reconciler.js';
import { buildReport } from '../../supervisor/online/reporter.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import {
  cleanDevice,
  deviceDocker,
  execIn,
  inspectContainer,
  inspectVolume,
  listNetworks,
  managedContainers,
} from '../../harness/supervisor-device.js';
import { serviceSpec, targetState } from '../../harness/supervisor-targets.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const log = createLogger('test-supervisor', { test: 'integration' });
const engine = new DockerEngine(docker, log);

/** Runs passes until the reconciler reports converged; fails on error or when it takes too many passes. */
async function converge(reconciler: Reconciler, target: TargetState): Promise<void> {
  reconciler.setTarget(target);
  for (let pass = 0; pass < 20; pass++) {
    const delay = await reconciler.runPass();
    const status = reconciler.currentStatus();
    if (status.phase === 'converged') return;
    if (status.phase === 'error') assert.fail(`reconcile failed: ${status.error ?? ''}`);
    await new Promise((r) => setTimeout(r, Math.min(delay, 500)));
  }
  assert.fail(`no convergence: ${JSON.stringify(reconciler.currentStatus())}`);
}

function idsByService(list: { id: string; service: string }[]): Record<string, string> {
  return Object.fromEntries(list.map((c) => [c.service, c.id]));
}

describe('supervisor on a real engine', function () {
  this.timeout(120_000);
  let reconciler: Reconciler;

  beforeEach(async () => {
    await cleanDevice(docker);
    reconciler = new Reconciler({ engine, log, retry: { initialMs: 100, maxMs: 1_000 } });
  });

  after(async () => {
    await cleanDevice(docker, { volumes: true });
  });

  it('converges from empty, pulling images the device did not have', async () => {
    const [api, meter] = await Promise.all([
      buildTestImage(env, { repo: 'api' }),
      buildTestImage(env, { repo: 'meter' }),
    ]);
    assert.equal(await engine.hasImage(api), false);
    assert.equal(await engine.hasImage(meter), false);
    const target = targetState(
      [
        serviceSpec('api', api, { ports: [{ target: 8080, protocol: 'tcp', hostIp: '127.0.0.1' }] }),
        serviceSpec('meter', meter, { environment: { MODE: 'p1' }, dependsOn: { api: 'service_started' } }),
      ],
      { releaseId: 'r1', env: { SITE: 'north' } },
    );

    await converge(reconciler, target);

    assert.equal(await engine.hasImage(api), true);
    assert.equal(await engine.hasImage(meter), true);
    const running = await managedContainers(docker);
    assert.deepEqual(
      running.map((c) => [c.service, c.state, c.labels['io.skiff.release']]),
      [
        ['api', 'running', 'r1'],
        ['meter', 'running', 'r1'],
      ],
    );
    const meterInfo = await inspectContainer(docker, idsByService(running).meter ?? '');
    assert.ok(meterInfo.Config.Env.includes('MODE=p1'));
    assert.ok(meterInfo.Config.Env.includes('SITE=north'));
    assert.deepEqual(Object.keys(meterInfo.NetworkSettings.Networks), ['skiff_default']);
    assert.ok(meterInfo.NetworkSettings.Networks.skiff_default?.Aliases?.includes('meter'));
    // The service name resolves on the default network, as in compose.
    const lookup = await execIn(docker, idsByService(running).meter ?? '', ['nslookup', 'api']);
    assert.equal(lookup.exitCode, 0, lookup.output);

    // Converged means converged: another pass plans nothing and leaves the containers as they are.
    await reconciler.runPass();
    assert.deepEqual(await managedContainers(docker), running);
  });

  it('a release that changes one service replaces only that container', async () => {
    const [a, b1, b2] = await Promise.all([
      buildTestImage(env, { repo: 'a' }),
      buildTestImage(env, { repo: 'b' }),
      buildTestImage(env, { repo: 'b' }),
    ]);
    await converge(reconciler, targetState([serviceSpec('a', a), serviceSpec('b', b1)], { releaseId: 'r1' }));
    const before = idsByService(await managedContainers(docker));

    const r2 = targetState([serviceSpec('a', a), serviceSpec('b', b2)], { releaseId: 'r2' });
    await converge(reconciler, r2);
    const afterList = await managedContainers(docker);
    const after = idsByService(afterList);

    assert.equal(afterList.length, 2);
    assert.equal(after.a, before.a, 'unchanged service keeps its container');
    assert.notEqual(after.b, before.b, 'changed service gets a new container');
    assert.ok(afterList.every((c) => c.state === 'running'));
    const bInfo = await inspectContainer(docker, after.b ?? '');
    assert.equal(bInfo.Config.Image, b2);

    // a was created by r1 but matches r2's definition: the device runs r2 in full.
    const report = buildReport({
      current: await readCurrentState(engine, []),
      target: r2,
      status: reconciler.currentStatus(),
      targetError: null,
      supervisorVersion: 'test',
      now: new Date(),
    });
    assert.equal(report.updateStatus, 'converged');
    assert.equal(report.releaseId, 'r2');
    assert.deepEqual(
      report.services.map((s) => [s.name, s.releaseId, s.state]),
      [
        ['a', 'r2', 'running'],
        ['b', 'r2', 'running'],
      ],
    );
  });

  it('removes a service dropped from the target, and its network once unused', async () => {
    const [a, b] = await Promise.all([buildTestImage(env, { repo: 'a' }), buildTestImage(env, { repo: 'b' })]);
    await converge(
      reconciler,
      targetState([serviceSpec('a', a), serviceSpec('b', b, { networks: { sensors: { aliases: ['reader'] } } })], {
        releaseId: 'r1',
        networks: ['sensors'],
      }),
    );
    const before = idsByService(await managedContainers(docker));
    assert.ok((await listNetworks(docker)).some((n) => n.Name === 'skiff_sensors'));

    await converge(reconciler, targetState([serviceSpec('a', a)], { releaseId: 'r2' }));

    const after = await managedContainers(docker);
    assert.deepEqual(
      after.map((c) => [c.service, c.id]),
      [['a', before.a]],
    );
    assert.ok(!(await listNetworks(docker)).some((n) => n.Name === 'skiff_sensors'));
  });

  it('keeps the files of a named volume across an update', async () => {
    await cleanDevice(docker, { volumes: true });
    const [db1, db2] = await Promise.all([buildTestImage(env, { repo: 'db' }), buildTestImage(env, { repo: 'db' })]);
    const volumes = [{ type: 'volume' as const, source: 'data', target: '/data', readOnly: false }];
    await converge(
      reconciler,
      targetState([serviceSpec('db', db1, { volumes })], { releaseId: 'r1', volumes: ['data'] }),
    );
    const [first] = await managedContainers(docker);
    assert.ok(first);
    const write = await execIn(docker, first.id, ['sh', '-c', 'echo readings-2026 > /data/marker']);
    assert.equal(write.exitCode, 0, write.output);

    await converge(
      reconciler,
      targetState([serviceSpec('db', db2, { volumes })], { releaseId: 'r2', volumes: ['data'] }),
    );

    const [second] = await managedContainers(docker);
    assert.ok(second);
    assert.notEqual(second.id, first.id);
    const read = await execIn(docker, second.id, ['cat', '/data/marker']);
    assert.equal(read.output.trim(), 'readings-2026');
    const volume = await inspectVolume(docker, 'skiff_data');
    assert.equal(volume.Labels?.['io.skiff.managed'], 'true');
  });

  it('starts a stopped container of the current definition instead of recreating it', async () => {
    const a = await buildTestImage(env, { repo: 'a' });
    const target = targetState([serviceSpec('a', a)], { releaseId: 'r1' });
    await converge(reconciler, target);
    const [before] = await managedContainers(docker);
    assert.ok(before);
    await docker.json('POST', `/containers/${before.id}/stop`, { query: { t: 5 } });

    await converge(reconciler, target);

    const after = await managedContainers(docker);
    assert.deepEqual(
      after.map((c) => [c.id, c.state]),
      [[before.id, 'running']],
    );
  });

  it('runs the full service definition and starts a dependent once its dependency is healthy', async () => {
    const [dbImage, apiImage] = await Promise.all([
      buildTestImage(env, { repo: 'db' }),
      buildTestImage(env, { repo: 'api' }),
    ]);
    const hostDir = path.join(tmpdir(), `skiff-bind-${process.pid}-${Date.now()}`);
    const target = targetState(
      [
        serviceSpec('db', dbImage, {
          healthcheck: { test: ['CMD-SHELL', 'test -f /nonce'], intervalSeconds: 1, timeoutSeconds: 1, retries: 3 },
          networks: { backend: { aliases: ['database'] }, frontend: { aliases: [] } },
          volumes: [
            { type: 'tmpfs', target: '/scratch', readOnly: false },
            { type: 'volume', target: '/cache', readOnly: false },
            { type: 'bind', source: hostDir, target: '/host', readOnly: true },
          ],
          ports: [{ target: 80, hostIp: '127.0.0.1', protocol: 'tcp' }],
          devices: ['/dev/null:/dev/meter'],
          workingDir: '/scratch',
          user: '0',
          hostname: 'db-host',
          stopSignal: 'SIGTERM',
          stopGracePeriodSeconds: 3,
        }),
        serviceSpec('api', apiImage, { dependsOn: { db: 'service_healthy' }, networks: { backend: { aliases: [] } } }),
      ],
      { releaseId: 'r1', networks: ['backend', 'frontend'] },
    );

    await converge(reconciler, target);

    const ids = idsByService(await managedContainers(docker));
    const db = await inspectContainer(docker, ids.db ?? '');
    const api = await inspectContainer(docker, ids.api ?? '');
    assert.equal(db.State.Health?.Status, 'healthy');
    const firstPass = db.State.Health?.Log.find((l) => l.ExitCode === 0);
    assert.ok(firstPass, 'db has a passing health check');
    assert.ok(
      new Date(api.State.StartedAt) >= new Date(firstPass.End),
      `api started ${api.State.StartedAt}, before db was healthy at ${firstPass.End}`,
    );
    assert.deepEqual(Object.keys(db.NetworkSettings.Networks).sort(), ['skiff_backend', 'skiff_frontend']);
    assert.ok(db.NetworkSettings.Networks.skiff_backend?.Aliases?.includes('database'));
    assert.deepEqual(db.Mounts.map((m) => [m.Type, m.Destination, m.RW]).sort(), [
      ['bind', '/host', false],
      ['tmpfs', '/scratch', true],
      ['volume', '/cache', true],
    ]);
    assert.equal(db.Config.WorkingDir, '/scratch');
    assert.equal(db.Config.Hostname, 'db-host');
    assert.equal(db.NetworkSettings.Ports['80/tcp']?.[0]?.HostIp, '127.0.0.1');
    const inside = await execIn(docker, ids.db ?? '', [
      'sh',
      '-c',
      'test -c /dev/meter && grep -q " /scratch tmpfs" /proc/mounts && echo ok',
    ]);
    assert.equal(inside.output.trim(), 'ok');
    const lookup = await execIn(docker, ids.api ?? '', ['nslookup', 'database']);
    assert.equal(lookup.exitCode, 0, lookup.output);
    await rm(hostDir, { recursive: true, force: true });
  });

  it('uses a network of the wanted name that it did not create, and converges', async () => {
    await docker.json('POST', '/networks/create', {
      body: { Name: 'skiff_default', Driver: 'bridge', CheckDuplicate: true },
    });
    const a = await buildTestImage(env, { repo: 'a' });
    await converge(reconciler, targetState([serviceSpec('a', a)], { releaseId: 'r1' }));
    const [only] = await managedContainers(docker);
    assert.ok(only);
    const info = await inspectContainer(docker, only.id);
    assert.deepEqual(Object.keys(info.NetworkSettings.Networks), ['skiff_default']);
  });

  it('reports an error and leaves running containers alone when an image cannot be fetched', async () => {
    const a = await buildTestImage(env, { repo: 'a' });
    await converge(reconciler, targetState([serviceSpec('a', a)], { releaseId: 'r1' }));
    const before = await managedContainers(docker);
    const missing = `${env.registry}/skiff-test/a@sha256:${'0'.repeat(64)}`;

    reconciler.setTarget(targetState([serviceSpec('a', missing)], { releaseId: 'r2' }));
    await reconciler.runPass();

    const status = reconciler.currentStatus();
    assert.equal(status.phase, 'error');
    assert.match(status.error ?? '', /fetch image .*sha256:0{64} failed/);
    assert.deepEqual(await managedContainers(docker), before);
  });
});

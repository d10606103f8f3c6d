// Every Engine method against the real device engine, images from the real registry.
import assert from 'node:assert/strict';
import { createLogger } from '../../lib/logger.js';
import { connectEngine, DockerEngine, EngineError } from '../../supervisor/engine/engine.js';
import type { ContainerCreateOptions, PullProgress } from '../../supervisor/engine/engine.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { inspectContainer } from '../../harness/supervisor-device.js';

const env = loadTestEnv();
const client = connectEngine(env.deviceDockerHost);
const engine = new DockerEngine(client, createLogger('test-engine', { test: 'integration' }));
const LABEL = 'io.skiff.engine-test';

function options(image: string, cmd: string[]): ContainerCreateOptions {
  return { Image: image, Cmd: cmd, Labels: { [LABEL]: 'true' }, HostConfig: { NetworkMode: 'bridge' } };
}

async function cleanUp(): Promise<void> {
  for (const c of await engine.listContainers(`${LABEL}=true`)) {
    await client.json('DELETE', `/containers/${c.id}`, { query: { force: 'true', v: 'true' } });
  }
  for (const n of await engine.listNetworks())
    if (n.name.startsWith('skiff-engine-test')) await engine.removeNetwork(n.id);
  for (const v of await engine.listVolumes())
    if (v.startsWith('skiff-engine-test')) await client.json('DELETE', `/volumes/${v}`);
}

describe('Docker engine adapter (node:http client)', function () {
  this.timeout(120_000);
  let image: string;

  before(async () => {
    image = await buildTestImage(env, { repo: 'engine' });
    await cleanUp();
  });
  after(cleanUp);

  it('pulls by digest with progress, then inspects, lists and finds the image', async () => {
    const progress: PullProgress[] = [];
    await engine.pullImage(image, undefined, (p) => progress.push(p));
    assert.ok(
      progress.some((p) => p.status === 'Pull complete' && typeof p.layer === 'string'),
      JSON.stringify(progress),
    );
    assert.ok(progress.some((p) => typeof p.total === 'number' && p.total > 0));
    assert.equal(await engine.hasImage(image), true);
    const info = await engine.inspectImage(image);
    assert.ok(info !== undefined);
    assert.match(info.id, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(info.repoDigests, [image]);
    assert.ok(info.size > 0);
    // skiff/busybox:base has one layer, the test image adds the nonce file.
    assert.equal(info.diffIds.length, 2);
    assert.ok(info.diffIds.every((d) => /^sha256:[0-9a-f]{64}$/.test(d)));
    const listed = (await engine.listImages()).find((i) => i.id === info.id);
    assert.deepEqual(listed?.repoDigests, [image]);
    assert.deepEqual(listed?.repoTags, []);
  });

  it("fails a pull with the registry's reason and reports absent images as absent", async () => {
    const missing = `${image.split('@')[0]}@sha256:${'0'.repeat(64)}`;
    await assert.rejects(
      engine.pullImage(missing),
      (err: Error) => err.message.includes(missing) && /manifest unknown|not found/i.test(err.message),
    );
    assert.equal(await engine.hasImage(missing), false);
    assert.equal(await engine.inspectImage(missing), undefined);
  });

  it('pulls with registry credentials sent as X-Registry-Auth (an open registry accepts them)', async () => {
    const other = await buildTestImage(env, { repo: 'engine-auth' });
    await engine.pullImage(other, { username: 'device', password: 'secret', serveraddress: env.registry });
    assert.equal(await engine.hasImage(other), true);
    assert.equal(await engine.removeImage(other), 'removed');
  });

  it('saves an image as a tar and loads it back with the same id', async () => {
    await engine.pullImage(image);
    const before = await engine.inspectImage(image);
    assert.ok(before !== undefined);
    const chunks: Buffer[] = [];
    for await (const chunk of await engine.saveImages([image])) chunks.push(chunk as Buffer);
    const tar = Buffer.concat(chunks);
    assert.ok(tar.length > 10_000, `tar of ${tar.length} bytes`);
    assert.equal(await engine.removeImage(before.id), 'removed');
    assert.equal(await engine.inspectImage(before.id), undefined);
    const { Readable } = await import('node:stream');
    const loaded = await engine.loadImage(Readable.from([tar]));
    assert.deepEqual(loaded, [before.id]);
    assert.equal((await engine.inspectImage(before.id))?.id, before.id);
    await assert.rejects(
      engine.saveImages(['skiff-test/none:nothing']),
      (err: unknown) => err instanceof EngineError && err.statusCode === 404,
    );
    const broken = Readable.from([tar.subarray(0, 2048)]);
    await assert.rejects(engine.loadImage(broken), /image load failed/);
  });

  it('removes images idempotently, refuses one a container uses, and drops every reference of an id', async () => {
    await engine.pullImage(image);
    const info = await engine.inspectImage(image);
    assert.ok(info !== undefined);
    const id = await engine.createContainer('skiff-engine-test-user', options(image, ['true']));
    assert.equal(await engine.removeImage(info.id), 'in-use');
    assert.equal(await engine.removeImage(image), 'in-use');
    assert.ok(await engine.hasImage(image));
    await engine.removeContainer(id);
    await client.json('POST', `/images/${info.id}/tag`, { query: { repo: 'skiff-engine-test/extra', tag: 'one' } });
    await client.json('POST', `/images/${info.id}/tag`, { query: { repo: 'skiff-engine-test/extra', tag: 'two' } });
    assert.equal(await engine.removeImage(info.id), 'removed');
    assert.equal(await engine.inspectImage(info.id), undefined);
    assert.equal(await engine.removeImage(info.id), 'absent');
  });

  it("reports disk usage and the data root's free space", async () => {
    await engine.pullImage(image);
    const usage = await engine.diskUsage();
    assert.ok(usage.imagesBytes > 0, JSON.stringify(usage));
    assert.ok(usage.containersBytes >= 0 && usage.volumesBytes >= 0 && usage.buildCacheBytes >= 0);
    const space = await engine.dataRootSpace();
    assert.ok(space !== undefined);
    assert.ok(space.path.startsWith('/'), space.path);
    assert.ok(space.freeBytes > 0 && space.totalBytes >= space.freeBytes, JSON.stringify(space));
    const tcp = new DockerEngine(connectEngine('tcp://127.0.0.1:1'), createLogger('test-engine'));
    assert.equal(await tcp.dataRootSpace(), undefined);
  });

  it('creates, starts, restarts, logs, stops and removes a container idempotently', async () => {
    await engine.pullImage(image);
    const cmd = [
      'sh',
      '-c',
      'echo "out $(date +%s)"; echo "err line" >&2; trap "exit 0" TERM; while :; do sleep 1 & wait $!; done',
    ];
    const id = await engine.createContainer('skiff-engine-test-run', options(image, cmd));
    assert.equal(await engine.createContainer('skiff-engine-test-run', options(image, cmd)), id);
    await engine.startContainer(id);
    await engine.startContainer(id);
    const [listed] = await engine.listContainers(`${LABEL}=true`);
    assert.equal(listed?.id, id);
    assert.equal(listed?.name, 'skiff-engine-test-run');
    assert.equal(listed?.state, 'running');
    assert.deepEqual(listed?.networks, ['bridge']);

    let logs = await engine.containerLogs(id);
    for (let i = 0; i < 20 && logs.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      logs = await engine.containerLogs(id);
    }
    assert.deepEqual(logs.map((l) => l.stream).sort(), ['stderr', 'stdout']);
    assert.equal(logs.find((l) => l.stream === 'stderr')?.text, 'err line');
    assert.match(logs.find((l) => l.stream === 'stdout')?.text ?? '', /^out \d+$/);
    assert.ok(logs.every((l) => !Number.isNaN(Date.parse(l.timestamp))));

    const firstStart = (await inspectContainer(client, id)).State.StartedAt;
    await engine.restartContainer(id, 5);
    const second = await inspectContainer(client, id);
    assert.equal(second.State.Status, 'running');
    assert.notEqual(second.State.StartedAt, firstStart);
    let afterRestart = await engine.containerLogs(id);
    for (let i = 0; i < 20 && afterRestart.length < 4; i++) {
      await new Promise((r) => setTimeout(r, 100));
      afterRestart = await engine.containerLogs(id);
    }
    assert.equal(afterRestart.length, 4);
    assert.equal((await engine.containerLogs(id, { tail: 1 })).length, 1);
    assert.equal((await engine.containerLogs(id, { since: new Date(Date.now() + 60_000) })).length, 0);

    await engine.stopContainer(id, 5);
    await engine.stopContainer(id, 5);
    const [stopped] = await engine.listContainers(`${LABEL}=true`);
    assert.equal(stopped?.state, 'exited');
    assert.equal(stopped?.exitCode, 0);
    await engine.removeContainer(id);
    await engine.removeContainer(id);
    await engine.stopContainer(id, 1);
    assert.deepEqual(await engine.listContainers(`${LABEL}=true`), []);
    await assert.rejects(
      engine.restartContainer(id, 1),
      (err: unknown) =>
        err instanceof EngineError &&
        err.statusCode === 404 &&
        err.message.includes(id) &&
        /no such container/i.test(err.engineMessage),
    );
  });

  it('connects a container to every network it names, once', async () => {
    await engine.pullImage(image);
    await engine.createNetwork('skiff-engine-test-a', { [LABEL]: 'a' });
    await engine.createNetwork('skiff-engine-test-a', { [LABEL]: 'a' });
    await engine.createNetwork('skiff-engine-test-b', { [LABEL]: 'b' });
    const both: ContainerCreateOptions = {
      ...options(image, ['true']),
      HostConfig: { NetworkMode: 'skiff-engine-test-a' },
      NetworkingConfig: {
        EndpointsConfig: { 'skiff-engine-test-a': { Aliases: ['x'] }, 'skiff-engine-test-b': { Aliases: ['y'] } },
      },
    };
    const id = await engine.createContainer('skiff-engine-test-net', both);
    assert.equal(await engine.createContainer('skiff-engine-test-net', both), id);
    const [c] = await engine.listContainers(`${LABEL}=true`);
    assert.deepEqual(c?.networks, ['skiff-engine-test-a', 'skiff-engine-test-b']);
    const nets = (await engine.listNetworks()).filter((n) => n.name.startsWith('skiff-engine-test'));
    // The engine counts endpoints of running containers only; this one was never started.
    assert.deepEqual(nets.map((n) => [n.name, n.labels[LABEL], n.containerCount]).sort(), [
      ['skiff-engine-test-a', 'a', 0],
      ['skiff-engine-test-b', 'b', 0],
    ]);
    await engine.removeContainer(id);
    for (const n of nets) {
      await engine.removeNetwork(n.id);
      await engine.removeNetwork(n.id);
    }
    assert.ok(!(await engine.listNetworks()).some((n) => n.name.startsWith('skiff-engine-test')));
  });

  it('creates volumes idempotently', async () => {
    await engine.createVolume('skiff-engine-test-vol', { [LABEL]: 'true' });
    await engine.createVolume('skiff-engine-test-vol', { [LABEL]: 'true' });
    assert.equal((await engine.listVolumes()).filter((v) => v === 'skiff-engine-test-vol').length, 1);
  });

  it('names the engine address in a connection failure', async () => {
    const gone = new DockerEngine(connectEngine('unix:///nonexistent/docker.sock'), createLogger('test-engine'));
    await assert.rejects(gone.listVolumes(), /unix:\/\/\/nonexistent\/docker\.sock unreachable for GET \/volumes/);
  });
});

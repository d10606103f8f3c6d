// A registry on the LAN without TLS (SKIFF_INSECURE_REGISTRIES), against a real distribution registry bound to a
// non-loopback address of this machine (the environment's registry listens on 127.0.0.1 only, which is always plain
// HTTP): the device's fetcher pulls from it over plain HTTP only when the setting lists it, and otherwise fails
// naming the TLS handshake and the setting. Also as a process: main.js reads the setting, refuses a bad entry at start.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../lib/logger.js';
import { RegistryClient as RegistryIo } from '../../lib/registry/client.js';
import { insecureRegistriesOf } from '../../supervisor/config.js';
import { DockerEngine } from '../../supervisor/engine/engine.js';
import { ImageDelivery } from '../../supervisor/images/delivery.js';
import { localImageRef, resolveLocalImage } from '../../supervisor/images/local-image.js';
import { TargetStore } from '../../supervisor/target/store.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildLayeredImage } from '../../harness/layered-image.js';
import { cleanDevice, deviceDocker, eventually, managedContainers } from '../../harness/supervisor-device.js';
import { offlineDeviceConfig, SupervisorProcesses } from '../../harness/supervisor-process.js';
import { serviceSpec, signedTarget, targetState, TEST_DEVICE_UUID } from '../../harness/supervisor-targets.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const log = createLogger('test-insecure-registry', { test: 'integration' });
log.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
const engine = new DockerEngine(docker, log);
const devices = new SupervisorProcesses();

/** An IPv4 address of this machine that is not loopback: the host's own interface before engine bridges. */
function nonLoopbackAddress(): string {
  const candidates = Object.entries(networkInterfaces()).flatMap(([name, addresses]) =>
    (addresses ?? [])
      .filter((a) => a.family === 'IPv4' && !a.internal && !a.address.startsWith('127.'))
      .map((a) => ({ name, address: a.address })),
  );
  const bridge = (name: string): boolean => /^(br-|sk-|docker|veth|virbr)/.test(name);
  const chosen = candidates.find((c) => !bridge(c.name)) ?? candidates[0];
  if (chosen === undefined) throw new Error('this machine has no non-loopback IPv4 address to bind a test registry to');
  return chosen.address;
}

async function freePort(host: string): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** A distribution registry of this test's own, plain HTTP on `address`, with a temp root (as scripts/env.sh starts one). */
async function startRegistry(address: string, root: string): Promise<ChildProcess> {
  const config = path.join(root, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(root, 'data')}`,
      'http:',
      `  addr: ${address}`,
      '',
    ].join('\n'),
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  try {
    await eventually(`the registry on ${address}`, 30_000, async () => {
      if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr}`);
      return (await fetch(`http://${address}/v2/`).catch(() => null))?.status === 200 ? true : undefined;
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

describe('insecure registries (plain HTTP off loopback, real distribution registry)', function () {
  this.timeout(180_000);
  let root: string;
  let registry: ChildProcess | undefined;
  let lan: string;
  /** LAN/REPO@sha256:... of an image only the LAN registry has. */
  let image: string;
  /** Its config digest: the image ID the engine must end up with. */
  let configDigest: string;
  const dataDirs: string[] = [];

  before(async () => {
    const host = nonLoopbackAddress();
    lan = `${host}:${await freePort(host)}`;
    root = await mkdtemp(path.join(tmpdir(), 'skiff-lan-registry-'));
    registry = await startRegistry(lan, root);
    // An image pushed to the environment's registry, copied to the LAN one by the API's own registry I/O (which
    // follows the same list): manifest, config and layers.
    const built = await buildLayeredImage(env, [300_000], 'insecure');
    const io = new RegistryIo({ insecureRegistries: [lan] });
    const from = { registry: env.registry, repository: built.repository };
    const to = { registry: lan, repository: built.repository };
    for (const blob of [built.config, ...built.layers])
      await io.pushBlob(to, blob.digest, { bytes: await io.blobBytes(from, blob.digest) });
    const manifest = await io.manifest(from, built.digest);
    assert.ok(manifest !== null);
    await io.putManifest(to, built.digest, manifest.mediaType, manifest.body);
    image = `${lan}/${built.repository}@${built.digest}`;
    configDigest = built.config.digest;
  });

  beforeEach(async () => {
    await cleanDevice(docker);
    await engine.removeImage(localImageRef(image)).catch(() => undefined);
  });

  afterEach(async function () {
    await devices.stopAll(this.currentTest);
  });

  after(async () => {
    await cleanDevice(docker);
    if (image !== undefined) await engine.removeImage(localImageRef(image)).catch(() => undefined);
    if (registry !== undefined && registry.exitCode === null) {
      registry.kill('SIGTERM');
      await once(registry, 'exit');
    }
    await devices.removeDataDirs();
    await Promise.all(
      [root, ...dataDirs].filter((d) => d !== undefined).map((d) => rm(d, { recursive: true, force: true })),
    );
  });

  async function delivery(setting: string | undefined): Promise<ImageDelivery> {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-insecure-'));
    dataDirs.push(dataDir);
    const insecureRegistries = insecureRegistriesOf(
      setting === undefined ? {} : { SKIFF_INSECURE_REGISTRIES: setting },
    );
    return new ImageDelivery({ engine, dataDir, credentials: () => undefined, insecureRegistries, log });
  }

  it('the LAN registry answers plain HTTP only, on an address that is not loopback', async () => {
    assert.doesNotMatch(lan, /^(127\.|localhost)/);
    assert.equal((await fetch(`http://${lan}/v2/`)).status, 200);
    await assert.rejects(fetch(`https://${lan}/v2/`), (err: Error) =>
      /wrong version number/i.test(String((err.cause as Error | undefined)?.message)),
    );
  });

  it('pulls over plain HTTP from a registry SKIFF_INSECURE_REGISTRIES lists', async () => {
    const listed = await delivery(`registry.example:5000, ${lan}`);
    await listed.fetch(image);
    assert.equal(
      await resolveLocalImage(engine, image),
      localImageRef(image),
      'the fetcher loaded the image under its local tag',
    );
    assert.equal((await engine.inspectImage(localImageRef(image)))?.id, configDigest);
  });

  it('refuses a registry not listed, naming the failed TLS handshake and the setting', async () => {
    for (const setting of [undefined, `${lan.replace(/:\d+$/, '')}:${Number(lan.split(':')[1]) + 1}`]) {
      const unlisted = await delivery(setting);
      await assert.rejects(
        unlisted.fetch(image),
        (err: Error) => {
          assert.match(
            err.message,
            new RegExp(
              `GET https://${lan.replace(/\./g, '\\.')}/v2/.*: TLS handshake with registry ${lan.replace(/\./g, '\\.')} failed \\(wrong version number\\): it seems to speak plain HTTP; if it is meant to, list it in SKIFF_INSECURE_REGISTRIES`,
            ),
          );
          return true;
        },
        `setting ${setting ?? '(unset)'}`,
      );
    }
    assert.equal(await resolveLocalImage(engine, image), undefined, 'nothing was loaded');
  });

  it('the supervisor process reads the setting: runs the release from the listed registry, fails naming TLS without it', async () => {
    const target = signedTarget(targetState([serviceSpec('app', image)], { releaseId: 'lan-1' }));
    const config = offlineDeviceConfig(env, { localApiPort: env.deviceApiPort });

    const unlistedDir = await devices.dataDir(config);
    await new TargetStore(unlistedDir, TEST_DEVICE_UUID).save(target);
    const unlisted = devices.start(unlistedDir);
    await eventually('the reconciler to fail on the TLS handshake', 60_000, async () =>
      unlisted
        .logs()
        .find(
          (l) =>
            l.msg === 'reconcile failed' &&
            /TLS handshake with registry .* failed .*SKIFF_INSECURE_REGISTRIES/.test(String(l.err)),
        ),
    );
    assert.deepEqual(await managedContainers(docker), []);
    await unlisted.stop('SIGKILL');

    const listedDir = await devices.dataDir(config);
    await new TargetStore(listedDir, TEST_DEVICE_UUID).save(target);
    const listed = devices.start(listedDir, { SKIFF_INSECURE_REGISTRIES: lan });
    const running = await eventually('the release from the LAN registry to run', 90_000, async () => {
      const containers = await managedContainers(docker);
      return containers.some(
        (c) => c.service === 'app' && c.state === 'running' && c.labels['io.skiff.release'] === 'lan-1',
      )
        ? containers
        : undefined;
    });
    assert.equal(running.length, 1);
    assert.ok(
      listed.logs().some((l) => l.msg === 'image delivered' && l.image === image),
      'delivered by the fetcher, not an engine pull',
    );
    assert.ok(listed.logs().some((l) => l.msg === 'registries spoken to over plain HTTP (SKIFF_INSECURE_REGISTRIES)'));
  });

  it('the supervisor refuses to start with a bad entry, naming it', async () => {
    const dir = await devices.dataDir(offlineDeviceConfig(env, { localApiPort: env.deviceApiPort }));
    const bad = devices.start(dir, { SKIFF_INSECURE_REGISTRIES: `${lan},http://10.0.0.5:5000` });
    assert.equal(await bad.exited, 1);
    const fatal = bad.logs().find((l) => l.msg === 'supervisor failed to start');
    assert.equal(
      fatal?.err,
      "SKIFF_INSECURE_REGISTRIES: entry 2 'http://10.0.0.5:5000' has a scheme: give host:port only (a listed registry is spoken to over http://)",
      bad.logText(),
    );
  });
});

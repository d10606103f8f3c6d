// Image delivery as a device does it, end to end: a supervisor process registered with the real registry-api, in a
// fleet whose settings cap the download and open an update window. The image comes through Skiff's own fetcher,
// not the engine's pull: in paced Range requests (seen by a pass-through proxy in front of the registry) through
// DATA_DIR/blobs/partial, and it ends up in the engine under the fetcher's local tag; the progress and the window
// reach the API's device view. Then the same device, in local mode, fetches from the token-auth registry
// (registry-api is its token server) as itself: its uuid and current device token.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { createLogger } from '../../lib/logger.js';
import type { ImageDownload } from '../../protocol/state-report.js';
import { connectEngine as connectCliEngine } from '../../cli/push/engine.js';
import { pushImage, type RegistryCredentials } from '../../cli/push/image-pusher.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { connectEngine, dockerEngine } from '../../supervisor/engine/engine.js';
import { localImageRef } from '../../supervisor/images/local-image.js';
import { localPaths, type LocalState, type LocalTargetAnswer } from '../../protocol/local-api.js';
import { LOCAL_API_KEY_FILE } from '../../supervisor/local-api/key.js';
import { ApiServer } from '../../harness/api-server.js';
import { buildImage } from '../../harness/engine-build.js';
import { loadTestEnv } from '../../harness/env.js';
import { FaultProxy } from '../../harness/fault-proxy.js';
import { buildLayeredImage } from '../../harness/layered-image.js';
import { BASE_IMAGE, PROMPT_STOP_COMMAND } from '../../harness/images.js';
import { cleanDevice, deviceDocker, eventually } from '../../harness/supervisor-device.js';
import { makeDataDir, printLogsIfFailed, SupervisorProcess } from '../../harness/supervisor-process.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const log = createLogger('test-image-delivery');
log.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
/** Incompressible, so the bytes on the wire are the layer's. */
const LAYER_BYTES = 1_500_000;
const CAP_BYTES_PER_SECOND = 200 * 1024;

describe('supervisor image delivery (real API, token-auth registry, engine; capped, windowed)', function () {
  this.timeout(180_000);
  const run = randomUUID().slice(0, 8);
  const fleetName = `delivery-${run}`;
  const developer: RegistryCredentials = {
    username: `dev-${run}`,
    password: '',
    serveraddress: env.authRegistry.address,
  };
  let api: ApiServer;
  let devDocker: Docker;
  let device: SupervisorProcess | undefined;
  let dataDir: string | undefined;
  let deviceDir: string | undefined;
  let image: string | undefined;
  let authImage: string | undefined;
  let proxy: FaultProxy;

  before(async () => {
    proxy = new FaultProxy(env.registry, { cutProbability: 0, seed: 1 });
    await proxy.start();
    api = await ApiServer.start({
      port: env.apiPort,
      registry: env.registry,
      registryToken: {
        keyFile: env.authRegistry.tokenKeyFile,
        service: env.authRegistry.service,
        issuer: env.authRegistry.issuer,
      },
    });
    devDocker = await connectCliEngine(env.devDockerHost);
    await api.admin.createUser({ name: developer.username, role: 'developer' });
    developer.password = (await api.admin.createToken(developer.username, 'registry')).token;
    await cleanDevice(docker);
  });

  afterEach(async function () {
    printLogsIfFailed(this.currentTest, device);
    await device?.stop('SIGKILL');
    device = undefined;
  });

  after(async () => {
    await api?.stop();
    await proxy?.stop();
    await cleanDevice(docker);
    const engine = dockerEngine(env.deviceDockerHost, log);
    for (const ref of [image, authImage])
      if (ref !== undefined) await engine.removeImage(localImageRef(ref)).catch(() => undefined);
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  /** An image FROM the base with one layer of random bytes, pushed to the fleet's repository as the developer. */
  async function pushToAuthRegistry(): Promise<string> {
    const repository = `${env.authRegistry.address}/${fleetName}/app`;
    const dir = await mkdtemp(path.join(tmpdir(), 'skiff-delivery-'));
    try {
      await writeFile(path.join(dir, 'payload'), randomBytes(LAYER_BYTES));
      await writeFile(
        path.join(dir, 'Dockerfile'),
        `FROM ${BASE_IMAGE}\nCOPY payload /payload\nCMD ${JSON.stringify(PROMPT_STOP_COMMAND)}\n`,
      );
      await buildImage(connectEngine(env.devDockerHost), dir, ['Dockerfile', 'payload'], {
        tag: `${repository}:${run}`,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return pushImage(devDocker, repository, run, () => undefined, { credentials: developer });
  }

  it('downloads through the fetcher under the fleet cap, and the API shows progress and window', async () => {
    const fleet = await api.createFleet(fleetName);
    await api.admin.updateFleet(fleetName, {
      bandwidthCapBytesPerSecond: CAP_BYTES_PER_SECOND,
      // Opens every minute for an hour: open whenever the test runs.
      updateWindow: { cron: '* * * * *', durationMinutes: 60, timezone: 'UTC' },
    });
    const layered = await buildLayeredImage(env, [LAYER_BYTES], `delivery-${run}`);
    // The same image, asked for through the proxy: every request the device makes for it is recorded.
    image = `${proxy.address()}/${layered.repository}@${layered.digest}`;
    const release = await api.createRelease(fleetName, 'services:\n  app:\n    build: ./app\n    restart: always\n', {
      app: image,
    });

    const config: SupervisorConfig = {
      apiUrl: api.url,
      fleet: fleetName,
      provisioningKey: fleet.provisioningKey,
      deviceType: 'generic-amd64',
      dockerHost: env.deviceDockerHost,
      localApiPort: env.deviceApiPort,
    };
    dataDir = await makeDataDir(config);
    const dir = dataDir;
    device = new SupervisorProcess(dir, { SKIFF_REPORT_INTERVAL_MS: '200', SKIFF_POLL_INTERVAL_MS: '1000' });
    // Kept for the local-mode test below.
    deviceDir = dir;
    const uuid = await eventually(
      'the device to pick its uuid',
      20_000,
      async () => (JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as SupervisorConfig).uuid,
    );

    // Mid-download: the API holds a report with the image's progress, for the service that needs it.
    const partialDir = path.join(dir, 'blobs', 'partial');
    let partialsSeen = 0;
    const midway = await eventually(
      'a report of the download halfway',
      60_000,
      async () => {
        partialsSeen = Math.max(partialsSeen, (await readdir(partialDir).catch(() => [])).length);
        const report = (await api.device(uuid)).lastReport;
        const download = report?.downloads?.find((d: ImageDownload) => d.image === image);
        return download !== undefined &&
          download.bytesDone > LAYER_BYTES / 4 &&
          download.bytesDone < download.bytesTotal
          ? report
          : undefined;
      },
      100,
    );
    assert.equal(midway?.updateStatus, 'downloading');
    assert.deepEqual(
      midway?.downloads?.map((d) => [d.services, d.source]),
      [[['app'], 'full']],
    );
    assert.ok((midway?.downloads?.[0]?.bytesTotal ?? 0) >= LAYER_BYTES, JSON.stringify(midway?.downloads));
    assert.equal(midway?.updateWindow?.state, 'open');
    assert.equal(midway?.updateWindow?.applyAllowed, true);
    assert.ok(partialsSeen > 0, 'the download went through DATA_DIR/blobs/partial');

    const converged = await eventually('the release converged', 90_000, async () => {
      const d = await api.device(uuid);
      return d.lastReport?.updateStatus === 'converged' && d.lastReport.releaseId === release.id ? d : undefined;
    });
    assert.deepEqual(converged.lastReport?.downloads, [], 'nothing left in flight');
    assert.equal(converged.lastReport?.services[0]?.state, 'running');

    // The cap held: the layer cannot have come faster than the fleet allows (a little slack for the bucket's
    // first quarter second).
    // Paced Range requests for the layer: one chunk per request, each at most a quarter second of the cap.
    const layerPath = `/v2/${layered.repository}/blobs/${layered.layers.at(-1)?.digest ?? ''}`;
    const layerRequests = proxy.requests.filter((r) => r.path === layerPath);
    assert.ok(
      layerRequests.length >= LAYER_BYTES / (CAP_BYTES_PER_SECOND / 4),
      `${layerRequests.length} requests for the layer`,
    );
    assert.ok(
      layerRequests.every((r) => r.range !== null && /^bytes=\d+-\d+$/.test(r.range)),
      JSON.stringify(layerRequests.slice(0, 3)),
    );
    assert.ok(
      layerRequests.every((r) => r.bytes <= CAP_BYTES_PER_SECOND / 4),
      'no chunk larger than a quarter second of the cap',
    );
    const delivered = device.logs().find((l) => l.msg === 'image delivered' && l.image === image);
    assert.ok(delivered !== undefined, 'the fetcher delivered the image (no engine pull)');
    const minimumMs = (LAYER_BYTES / CAP_BYTES_PER_SECOND - 0.5) * 1000;
    assert.ok(
      Number(delivered.ms) >= minimumMs,
      `delivered in ${String(delivered.ms)} ms, the cap allows no less than ${minimumMs} ms`,
    );
    assert.ok(device.logs().some((l) => l.msg === 'bandwidth cap set' && l.bytesPerSecond === CAP_BYTES_PER_SECOND));
    // Loaded by the fetcher: the engine knows it by Skiff's local tag.
    const engine = dockerEngine(env.deviceDockerHost, log);
    assert.ok(
      (await engine.inspectImage(localImageRef(image))) !== undefined,
      `the engine has ${localImageRef(image)}`,
    );
  });

  it('fetches from the token-auth registry as the device itself (local mode)', async () => {
    assert.ok(deviceDir !== undefined, 'the first test left a provisioned device');
    const dir = deviceDir;
    authImage = await pushToAuthRegistry();
    const started = api.requests.length;
    device = new SupervisorProcess(dir, { SKIFF_REPORT_INTERVAL_MS: '200' });
    const key = (await readFile(path.join(dir, LOCAL_API_KEY_FILE), 'utf8')).trim();
    const base = `http://127.0.0.1:${env.deviceApiPort}`;
    const call = (method: string, route: string, body?: unknown): Promise<Response> =>
      fetch(`${base}${route}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    await eventually('the local API', 20_000, async () =>
      (await call('GET', localPaths.state).catch(() => null))?.status === 200 ? true : undefined,
    );
    const entered = await call('PUT', localPaths.localTarget, {
      compose: 'services:\n  app:\n    build: ./app\n',
      images: { app: authImage },
    });
    const answer = await entered.text();
    assert.ok(entered.ok, `${entered.status}: ${answer}`);
    const { releaseId } = JSON.parse(answer) as LocalTargetAnswer;
    const engine = dockerEngine(env.deviceDockerHost, log);
    const local = authImage;
    await eventually('the local target running', 90_000, async () => {
      const state = (await (await call('GET', localPaths.state)).json()) as LocalState;
      return state.report.updateStatus === 'converged' && state.report.releaseId === releaseId ? true : undefined;
    });
    assert.ok((await engine.inspectImage(localImageRef(local))) !== undefined, 'loaded by the fetcher');
    // The registry sent the device to the token server, which gave it a pull token for its fleet's repository.
    const tokens = api.requests.slice(started).filter((r) => r.path.startsWith('/v1/registry/token'));
    assert.ok(
      tokens.length > 0 && tokens.every((r) => r.status === 200),
      tokens.map((r) => `${r.path} ${r.status}`).join('\n'),
    );
    assert.ok(
      tokens.some((r) => decodeURIComponent(r.path).includes(`repository:${fleetName}/app:pull`)),
      tokens.map((r) => r.path).join('\n'),
    );
    assert.ok(device.logs().some((l) => l.msg === 'image delivered' && l.image === authImage));
  });
});

// Issue #5's progress end to end: a supervisor process running release 1 gets release 2, whose delta patches the API's
// job made; under a tight bandwidth cap its state report shows the image coming as 'delta' with bytes and percent,
// the API's device view holds it, and the CLI shows it: a compact column in `skiff devices`, per service in
// `skiff device show`. --json prints the API's objects as they are.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { createLogger } from '../../lib/logger.js';
import { deltaTagOf } from '../../protocol/delta.js';
import type { DeviceSummary } from '../../protocol/api.js';
import { RegistryClient as RegistryIo } from '../../lib/registry/client.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { dockerEngine } from '../../supervisor/engine/engine.js';
import { localImageRef } from '../../supervisor/images/local-image.js';
import { buildReleasePair, type PushedImage } from '../../bench/support/delta-images.js';
import { ApiServer } from '../../harness/api-server.js';
import { skiff } from '../../harness/skiff-cli.js';
import { loadTestEnv } from '../../harness/env.js';
import { cleanDevice, deviceDocker, eventually } from '../../harness/supervisor-device.js';
import { makeDataDir, printLogsIfFailed, SupervisorProcess } from '../../harness/supervisor-process.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
const log = createLogger('test-delta-progress');
log.level = process.env.SKIFF_LOG_LEVEL ?? 'warn';
const COMPOSE = 'services:\n  app:\n    build: ./app\n    restart: always\n';
/** Slow enough that the patches take seconds: the reports catch them in flight. */
const CAP_BYTES_PER_SECOND = 1_500;

describe('delta download progress (supervisor process, real API, registry, engine, CLI)', function () {
  this.timeout(300_000);
  let api: ApiServer;
  let device: SupervisorProcess | undefined;
  let dataDir: string | undefined;
  let images: PushedImage[] = [];

  before(async () => {
    api = await ApiServer.start({ registry: env.registry });
    await cleanDevice(docker);
  });

  afterEach(async function () {
    printLogsIfFailed(this.currentTest, device);
    await device?.stop('SIGKILL');
    device = undefined;
  });

  after(async () => {
    await api?.stop();
    await cleanDevice(docker);
    const engine = dockerEngine(env.deviceDockerHost, log);
    for (const image of images) await engine.removeImage(localImageRef(image.ref)).catch(() => undefined);
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  it('reports the image coming as delta patches, and the CLI shows it', async () => {
    const run = randomUUID().slice(0, 8);
    const fleetName = `delta-progress-${run}`;
    const repository = `skiff-test/delta-progress-${run}`;
    const { first, second } = await buildReleasePair(env, {
      base: 'skiff/busybox:base',
      packages: ['ajv', 'yaml', 'commander', 'semver'],
      bumped: 'semver',
      repository,
    });
    images = [first, second];
    const fleet = await api.createFleet(fleetName);
    const r1 = await api.createRelease(fleetName, COMPOSE, { app: first.ref });

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
    device = new SupervisorProcess(dir, { SKIFF_REPORT_INTERVAL_MS: '200', SKIFF_POLL_INTERVAL_MS: '500' });
    const uuid = await eventually(
      'the device to pick its uuid',
      20_000,
      async () => (JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as SupervisorConfig).uuid,
    );
    await eventually('release 1 running', 120_000, async () => {
      const report = (await api.device(uuid)).lastReport;
      return report?.updateStatus === 'converged' && report.releaseId === r1.id ? true : undefined;
    });

    // Release 2 stays back until its patches exist, then goes out under the cap.
    await api.admin.pin(fleetName, r1.id);
    const r2 = await api.createRelease(fleetName, COMPOSE, { app: second.ref });
    await eventually(
      'the delta artifact of release 2',
      240_000,
      async () =>
        (await new RegistryIo().manifest({ registry: env.registry, repository }, deltaTagOf(second.config.digest))) ===
        null
          ? undefined
          : true,
      250,
    );
    await api.admin.updateFleet(fleetName, { bandwidthCapBytesPerSecond: CAP_BYTES_PER_SECOND });
    await api.admin.pin(fleetName, r2.id);

    // What people see while it comes in: the list's column, the device's per service table, the API's figures.
    const midway = await eventually(
      'the delta download in flight, in the API and the CLI',
      120_000,
      async () => {
        const listed = (await api.admin.listDevices(fleetName)).find((d) => d.uuid === uuid);
        if (listed?.download?.source !== 'delta' || listed.download.bytesDone >= listed.download.bytesTotal)
          return undefined;
        const table = await skiff(api, 'devices', '--fleet', fleetName);
        const shown = await skiff(api, 'device', 'show', uuid);
        const detail = await api.device(uuid);
        const d = detail.lastReport?.downloads?.find((x) => x.image === second.ref);
        if (d?.source !== 'delta' || !/downloading \d{1,2}% \(delta\)/.test(table) || !/Downloading:/.test(shown))
          return undefined;
        return { listed, table, shown, download: d };
      },
      100,
    );
    assert.deepEqual(midway.download.services, ['app']);
    assert.ok(midway.download.bytesDone > 0 && midway.download.percent < 100, JSON.stringify(midway.download));
    // A patch download is small against the changed layers it replaces.
    const changedLayers = second.layers.slice(1).reduce((s, l) => s + l.size, 0);
    assert.ok(
      midway.listed.download !== undefined && midway.listed.download.bytesTotal < changedLayers / 5,
      JSON.stringify(midway.listed.download),
    );
    assert.match(
      midway.table,
      new RegExp(`${midway.listed.shortId ?? uuid.slice(0, 7)}.*downloading \\d{1,2}% \\(delta\\)`),
      midway.table,
    );
    assert.match(
      midway.shown,
      /Downloading:\n\s*SERVICE\s+SOURCE\s+BYTES\s+PERCENT\s+IMAGE[^\n]*\n\s*app\s+delta\s+[\d.]+ k?B\/[\d.]+ k?B\s+\d+\.\d%/,
      midway.shown,
    );

    const converged = await eventually('release 2 running', 180_000, async () => {
      const d = await api.device(uuid);
      return d.lastReport?.updateStatus === 'converged' && d.lastReport.releaseId === r2.id ? d : undefined;
    });
    assert.deepEqual(converged.lastReport?.downloads ?? [], []);
    assert.ok(device.logs().some((l) => l.msg === 'image delivered' && l.image === second.ref));
    const after = await skiff(api, 'devices', '--fleet', fleetName);
    assert.doesNotMatch(after, /downloading/);
    // --json: the API's list as it is, nothing added by the CLI.
    const json = JSON.parse(await skiff(api, 'devices', '--fleet', fleetName, '--json')) as DeviceSummary[];
    assert.deepEqual(
      json.map((d) => d.uuid),
      [uuid],
    );
    assert.equal(json[0]?.download, undefined, 'nothing downloading: no download figure');
  });
});

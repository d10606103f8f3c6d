// Built for the Pi it runs on, on this x86 machine: a fleet of Raspberry Pis (arm64 and 32-bit arm) pushed with
// `skiff push`, which builds each service per platform with the classic builder and binfmt emulation
// (scripts/binfmt.sh) and pushes one manifest list per service. The "Pi" is a supervisor process whose config says
// platform linux/arm64 (or linux/arm/v7), managing the environment's x86 device engine: that engine runs the arm
// containers through the same binfmt emulation, so what runs inside is arm code (uname -m says so). What is not
// real: the CPU (emulated, several times slower) and the engine's own architecture (it reports x86_64).
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import type { Fleet } from '../../protocol/api.js';
import { parseDigestReference } from '../../protocol/image-reference.js';
import { MEDIA_TYPES } from '../../protocol/oci-image.js';
import { RegistryClient } from '../../lib/registry/client.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv, repoRoot } from '../../harness/env.js';
import { skiff } from '../../harness/skiff-cli.js';
import { TestDevice } from '../../harness/test-device.js';
import { cleanDevice, deviceDocker, eventually, execIn, managedContainers } from '../../harness/supervisor-device.js';
import { makeDataDir, printLogsIfFailed, SupervisorProcess } from '../../harness/supervisor-process.js';
import { engineOptions } from '../../cli/push/engine.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
/**
 * Two services: a busybox probe (its RUN step shows where it was built) and the meter fleet's own meter reader,
 * the real template, built FROM the Node base image of each platform (Debian's arm packages) and reading its
 * simulated meter in emulated arm code.
 */
const DOCKERFILE = `ARG TARGETARCH=amd64
ARG TARGETVARIANT=
ARG BASE=skiff/busybox:base-\${TARGETARCH}\${TARGETVARIANT}
FROM \${BASE}
RUN uname -m > /built-on
CMD ["sh", "-c", "echo running on $(uname -m), built on $(cat /built-on); exec sleep 3600"]
`;
const PROBE_ONLY = `services:
  probe:
    build: ./probe
    restart: always
`;
const COMPOSE = `${PROBE_ONLY}  meter-reader:
    build: ./meter-reader
    restart: always
    environment:
      METER_SOURCE: simulated
      METER_INTERVAL_SECONDS: "1"
      METER_PUBLISH_INTERVAL_SECONDS: "0"
`;

describe('device types: a Pi fleet pushed and run from an x86 machine', function () {
  this.timeout(1_200_000);
  let api: ApiServer;
  let fleet: Fleet;
  let composeDir: string;
  let device: SupervisorProcess | undefined;
  const dataDirs: string[] = [];

  before(async () => {
    api = await ApiServer.start({ registry: env.registry });
    await cleanDevice(docker);
    composeDir = await mkdtemp(path.join(tmpdir(), 'skiff-pi-fleet-'));
    await writeFile(path.join(composeDir, 'docker-compose.yml'), COMPOSE);
    await mkdir(path.join(composeDir, 'probe'));
    await writeFile(path.join(composeDir, 'probe', 'Dockerfile'), DOCKERFILE);
    await cp(
      path.join(repoRoot, 'compose-templates', 'meter-fleet', 'meter-reader'),
      path.join(composeDir, 'meter-reader'),
      {
        recursive: true,
      },
    );
    fleet = await api.admin.createFleet({ name: 'pis', deviceTypes: ['raspberrypi4-64', 'raspberrypi3'] });
  });

  afterEach(async function () {
    printLogsIfFailed(this.currentTest, device);
    await device?.stop('SIGKILL');
    device = undefined;
    await cleanDevice(docker);
    // Every emulated device shares this engine: an image loaded for one platform must not serve the next device.
    const engine = new Docker(engineOptions(env.deviceDockerHost));
    for (const image of await engine.listImages({ filters: JSON.stringify({ reference: [`${env.registry}/pis/*`] }) }))
      await engine.getImage(image.Id).remove({ force: true });
  });

  after(async () => {
    await api.stop();
    await Promise.all([composeDir, ...dataDirs].map((d) => rm(d, { recursive: true, force: true })));
  });

  /** A supervisor that says it runs `platform`, joining the fleet; returns its uuid once it picked one. */
  async function startDevice(platform: string, deviceType: string): Promise<string> {
    const config: SupervisorConfig = {
      apiUrl: api.url,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType,
      platform,
      dockerHost: env.deviceDockerHost,
      localApiPort: 0,
    };
    const dataDir = await makeDataDir(config);
    dataDirs.push(dataDir);
    device = new SupervisorProcess(dataDir, { SKIFF_POLL_INTERVAL_MS: '1000', SKIFF_REPORT_INTERVAL_MS: '500' });
    return eventually(
      'the device to pick its uuid',
      20_000,
      async () => (JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig).uuid,
    );
  }

  async function runningReader(): Promise<string> {
    return eventually(
      'the probe running',
      600_000,
      async () => {
        const [reader] = (await managedContainers(docker)).filter((c) => c.service === 'probe');
        return reader?.state === 'running' ? reader.id : undefined;
      },
      1000,
    );
  }

  /** The meter reader's container once it logged readings of its simulated meter, and what `uname -m` says in it. */
  async function readingMeter(): Promise<{ id: string; machine: string }> {
    const engine = new Docker(engineOptions(env.deviceDockerHost));
    const id = await eventually(
      'the meter reader logging readings of its simulated meter',
      600_000,
      async () => {
        const [reader] = (await managedContainers(docker)).filter((c) => c.service === 'meter-reader');
        if (reader?.state !== 'running') return undefined;
        const logs = (await engine.getContainer(reader.id).logs({ stdout: true, stderr: true, tail: 200 })).toString();
        return (logs.match(/"msg":"reading"/g) ?? []).length >= 2 ? reader.id : undefined;
      },
      2000,
    );
    const { output } = await execIn(docker, id, ['uname', '-m']);
    return { id, machine: output.trim() };
  }

  it('lists the fleet as needing linux/arm64 and linux/arm/v7', () => {
    assert.deepEqual(fleet.deviceTypes, ['raspberrypi4-64', 'raspberrypi3']);
    assert.deepEqual(fleet.platforms, ['linux/arm/v7', 'linux/arm64']);
  });

  it('refuses an unknown device type with the list, in the API and the CLI', async () => {
    await assert.rejects(
      api.admin.createFleet({ name: 'toasters', deviceType: 'toaster' }),
      /"toaster" is not a known device type; use one of raspberry-pi, .*raspberrypi4-64/,
    );
    await assert.rejects(
      skiff(api, 'fleet', 'create', 'toasters', '--device-type', 'toaster'),
      /'toaster' is not a device type; use one of raspberry-pi, /,
    );
  });

  it('pushes one manifest list per service with an arm64 and an armv7 image', async () => {
    const out = await skiff(
      api,
      'push',
      composeDir,
      '--fleet',
      fleet.name,
      '--docker-host',
      env.devDockerHost,
      '--version',
      '1',
    );
    assert.match(out, /1/);
    const release = await api.releaseSettled(fleet.name, '1');
    assert.equal(release.status, 'ready', JSON.stringify(release.verification));
    assert.deepEqual(release.platforms, ['linux/arm/v7', 'linux/arm64']);
    const ref = parseDigestReference(release.images.probe!);
    const index = await new RegistryClient().getManifest(ref, ref.digest);
    assert.equal(index.mediaType, MEDIA_TYPES.dockerManifestList);
    const doc = JSON.parse(index.body.toString('utf8')) as {
      manifests: { platform: { architecture: string; variant?: string } }[];
    };
    assert.deepEqual(
      doc.manifests
        .map((m) => `${m.platform.architecture}${m.platform.variant === undefined ? '' : `/${m.platform.variant}`}`)
        .sort(),
      ['arm/v7', 'arm64'],
    );
    const shown = await skiff(api, 'releases', fleet.name);
    assert.match(shown, /linux\/arm\/v7, linux\/arm64/);
  });

  it('a raspberrypi4-64 device runs the arm64 images: uname -m inside says aarch64, the meter reader reads', async () => {
    const uuid = await startDevice('linux/arm64', 'raspberrypi4-64');
    const probe = await runningReader();
    const { output } = await execIn(docker, probe, ['uname', '-m']);
    assert.equal(output.trim(), 'aarch64');
    const built = await execIn(docker, probe, ['cat', '/built-on']);
    assert.equal(built.output.trim(), 'aarch64', 'its RUN step ran arm64 code at build time');
    const detail = await api.device(uuid);
    assert.equal(detail.platform, 'linux/arm64');
    assert.equal((await readingMeter()).machine, 'aarch64', 'the meter reader reads telegrams in arm64 code');
  });

  it('the same release reaches a raspberrypi3 (32-bit) device of the mixed fleet: armv7l, the meter reader reads', async () => {
    await startDevice('linux/arm/v7', 'raspberrypi3');
    const reader = await runningReader();
    const { output } = await execIn(docker, reader, ['uname', '-m']);
    assert.equal(output.trim(), 'armv7l');
    assert.equal((await readingMeter()).machine, 'armv7l', 'the meter reader reads telegrams in 32-bit arm code');
  });

  it('refuses at push an image: that has no arm64 image, naming the service and the platform', async () => {
    // An amd64-only image in the registry, as a service of the release would name it.
    const dev = new Docker(engineOptions(env.devDockerHost));
    const repo = `${env.registry}/amd64-only/tool`;
    await dev.getImage('skiff/busybox:base-amd64').tag({ repo, tag: '1' });
    const stream = await dev.getImage(`${repo}:1`).push({ tag: '1', authconfig: {} });
    await new Promise((resolve, reject) =>
      dev.modem.followProgress(stream, (err) => (err ? reject(err) : resolve(null))),
    );
    const dir = await mkdtemp(path.join(tmpdir(), 'skiff-amd64-only-'));
    dataDirs.push(dir);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'compose.yaml'), `services:\n  tool:\n    image: ${repo}:1\n`);
    await assert.rejects(
      skiff(api, 'push', dir, '--fleet', fleet.name, '--docker-host', env.devDockerHost),
      /service 'tool': image ".*amd64-only\/tool:1" has no image for linux\/arm\/v7, linux\/arm64 \(it has linux\/amd64\)/,
    );
  });

  it('registration refuses a device whose platform the fleet does not admit', async () => {
    const answer = await TestDevice.create('0b5c1a9e-7d4e-4c1e-9f1a-2b3c4d5e6f70').auth(api.url, {
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      platform: 'linux/amd64',
    });
    assert.equal(answer.status, 409, answer.text);
    assert.match(answer.text, /runs linux\/amd64, but fleet 'pis' admits device types raspberrypi4-64, raspberrypi3/);
  });

  it('a device whose platform a release lacks keeps its release, and its detail says why', async () => {
    const armv7 = TestDevice.create('1c6d2b0f-8e5f-4d2f-8a2b-3c4d5e6f7081');
    await armv7.token(api.url, {
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      platform: 'linux/arm/v7',
      deviceType: 'raspberrypi3',
    });
    const before = await api.device(armv7.uuid);
    assert.equal(before.targetRelease, '1');
    // Release 2 names the arm64 image alone (one entry of release 1's list): no image for linux/arm/v7.
    const [first] = await api.admin.listReleases(fleet.name);
    const ref = parseDigestReference(first!.images.probe!);
    const index = JSON.parse((await new RegistryClient().getManifest(ref, ref.digest)).body.toString('utf8')) as {
      manifests: { digest: string; platform: { architecture: string } }[];
    };
    const arm64 = index.manifests.find((m) => m.platform.architecture === 'arm64')!;
    const release2 = await api.createRelease(
      fleet.name,
      PROBE_ONLY,
      { probe: `${ref.name}@${arm64.digest}` },
      { version: '2' },
    );
    assert.deepEqual(release2.platforms, ['linux/arm64']);
    const after = await api.device(armv7.uuid);
    assert.equal(after.targetRelease, '1');
    assert.match(
      after.targetHeldBack ?? '',
      /release 2 has no image for this device's platform linux\/arm\/v7 \(it has linux\/arm64\); the device keeps release 1/,
    );
    const shown = await skiff(api, 'device', 'show', armv7.uuid);
    assert.match(shown, /Held back.*release 2 has no image for this device's platform linux\/arm\/v7/);
    // An arm64 device of the same fleet gets release 2.
    const arm64Device = TestDevice.create('2d7e3c1a-9f6a-4e3a-9b3c-4d5e6f708192');
    await arm64Device.token(api.url, {
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      platform: 'linux/arm64',
    });
    assert.equal((await api.device(arm64Device.uuid)).targetRelease, '2');
  });
});

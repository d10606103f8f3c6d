// A config var scoped to one service (balena's service variables) reaches that service only: the real supervisor
// recreates that one container and leaves the others as they were (same container ids), and a var of every service
// still reaches them all.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { skiff } from '../../harness/skiff-cli.js';
import {
  cleanDevice,
  deviceDocker,
  eventually,
  inspectContainer,
  managedContainers,
} from '../../harness/supervisor-device.js';
import { SupervisorProcesses } from '../../harness/supervisor-process.js';

const env = loadTestEnv();
const docker = deviceDocker(env);

const COMPOSE = ['services:', '  reader:', '    build: ./reader', '  uplink:', '    build: ./uplink', ''].join('\n');

/** Each service's container id and its environment. */
async function containers(): Promise<Record<string, { id: string; env: string[] }>> {
  const found: Record<string, { id: string; env: string[] }> = {};
  for (const c of await managedContainers(docker)) {
    found[c.service] = { id: c.id, env: (await inspectContainer(docker, c.id)).Config.Env };
  }
  return found;
}

describe('service-scoped config vars (integration)', function () {
  this.timeout(180_000);
  let api: ApiServer;
  const devices = new SupervisorProcesses();

  before(async () => {
    api = await ApiServer.start({ registry: env.registry });
    await cleanDevice(docker);
  });

  after(async () => {
    await devices.stopAll(undefined);
    await api?.stop();
    await cleanDevice(docker);
    await devices.removeDataDirs();
  });

  it('recreates only the service a scoped var is for', async () => {
    const [reader, uplink] = await Promise.all([
      buildTestImage(env, { repo: 'reader' }),
      buildTestImage(env, { repo: 'uplink' }),
    ]);
    const fleet = await api.createFleet('scoped-vars');
    const release = await api.createRelease(fleet.name, COMPOSE, { reader, uplink });
    const config: SupervisorConfig = {
      apiUrl: api.url,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: fleet.deviceType,
      name: 'scoped',
      dockerHost: env.deviceDockerHost,
    };
    const dataDir = await devices.dataDir(config);
    devices.start(dataDir, { SKIFF_POLL_INTERVAL_MS: '300', SKIFF_REPORT_INTERVAL_MS: '200' });
    const uuid = await eventually('the device to register', 30_000, async () => {
      const saved = JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8')) as SupervisorConfig;
      return saved.uuid;
    });
    await eventually('the release to run', 90_000, async () => {
      const device = await api.device(uuid);
      return device.runningRelease === release.version && device.updateStatus === 'converged' ? true : undefined;
    });
    const before = await containers();
    assert.deepEqual(Object.keys(before).sort(), ['reader', 'uplink']);

    await skiff(api, 'config', 'set', 'SERIAL_PORT', '/dev/ttyUSB0', '--fleet', fleet.name, '--service', 'reader');
    const scoped = await eventually('reader to get SERIAL_PORT', 60_000, async () => {
      const now = await containers();
      return now.reader?.env.includes('SERIAL_PORT=/dev/ttyUSB0') ? now : undefined;
    });
    assert.notEqual(scoped.reader?.id, before.reader?.id, 'reader was recreated');
    assert.equal(scoped.uplink?.id, before.uplink?.id, 'uplink kept its container');
    assert.ok(!scoped.uplink?.env.some((e) => e.startsWith('SERIAL_PORT=')), 'uplink does not see the var');

    // The device's own scoped value wins over the fleet's; still only reader moves.
    await skiff(api, 'config', 'set', 'SERIAL_PORT', '/dev/ttyAMA0', '--device', uuid, '--service', 'reader');
    const overridden = await eventually('reader to get the device value', 60_000, async () => {
      const now = await containers();
      return now.reader?.env.includes('SERIAL_PORT=/dev/ttyAMA0') ? now : undefined;
    });
    assert.equal(overridden.uplink?.id, before.uplink?.id, 'uplink still kept its container');
    const listed = await skiff(api, 'config', 'list', '--device', uuid);
    assert.match(listed, /SERIAL_PORT\s+\/dev\/ttyAMA0\s+device, for this service\s+reader/);

    // A var of every service reaches both.
    await skiff(api, 'config', 'set', 'REGION', 'north', '--fleet', fleet.name);
    const everywhere = await eventually('both services to get REGION', 60_000, async () => {
      const now = await containers();
      return now.reader?.env.includes('REGION=north') && now.uplink?.env.includes('REGION=north') ? now : undefined;
    });
    assert.notEqual(everywhere.uplink?.id, before.uplink?.id, 'uplink was recreated for a var of every service');
  });
});

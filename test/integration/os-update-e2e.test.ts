// A host OS update end to end, every part real: the bundle is uploaded and pinned with the `skiff` CLI, the
// supervisor process (node dist/supervisor/main.js) gets the pin in its signed target, downloads the bundle from the
// API's bundle route with its device token, has the real RAUC (scripts/rauc-env.sh) install it to the other slot
// and asks for a reboot; the test plays the bootloader (power cycle into the new slot) and starts the supervisor
// again, which checks the device's health, commits the slot, and reports the new OS version to the API.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { OsPinSchema, OsReleaseSchema } from '../../protocol/os-release.js';
import type { HostOsReport } from '../../protocol/state-report.js';
import { parse } from '../../protocol/validate.js';
import { osPaths } from '../../protocol/http/paths.js';
import type { HostOsSettings } from '../../supervisor/os-update/settings.js';
import { ApiServer } from '../../harness/api-server.js';
import { distRoot, loadTestEnv } from '../../harness/env.js';
import { buildBundle, loadRaucEnv, raucEnv, sha256File, type RaucEnv } from '../../harness/rauc-device.js';
import { makeDataDir, SupervisorProcess } from '../../harness/supervisor-process.js';

const run = promisify(execFile);
const CLI = path.join(distRoot, 'cli', 'main.js');
// Fleets admit known device types only: the slots' RAUC compatible string is the fleet's device type, the type of
// the machine the supervisor really runs on (it reports its platform at registration).
const TYPE = 'generic-amd64';

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | null>,
  logs: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms\n${logs().slice(-6000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('host OS update end to end: CLI, API, supervisor process, RAUC (integration)', function () {
  this.timeout(300_000);
  const env = loadTestEnv();
  const dir = path.join(env.root, 'rauc-e2e');
  let rauc: RaucEnv;
  let api: ApiServer;
  let home: string;
  let dataDir: string;
  let supervisor: SupervisorProcess | null = null;
  let bundle: string;
  const rebootFlag = () => path.join(dataDir, 'reboot-requested');

  async function skiff(...args: string[]): Promise<unknown> {
    const { stdout } = await run(process.execPath, [CLI, ...args, '--json'], {
      env: { ...process.env, HOME: home, SKIFF_API_URL: api.url, SKIFF_API_TOKEN: api.adminToken },
    });
    return JSON.parse(stdout) as unknown;
  }

  async function hostOsReported(uuid: string): Promise<HostOsReport | null> {
    const device = await api.device(uuid).catch(() => null);
    return device?.lastReport?.hostOs ?? null;
  }

  before(async () => {
    await raucEnv('up', dir, TYPE);
    rauc = await loadRaucEnv(dir);
    await raucEnv('crash', dir);
    // Factory state: slot A, no RAUC status, a fresh boot order.
    await rm(rauc.bootState, { force: true });
    await rm(path.join(rauc.dir, 'data', 'central.raucs'), { force: true });
    assert.equal(await raucEnv('boot', dir), 'A');

    const work = path.join(dir, 'work');
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true });
    bundle = await buildBundle(
      rauc,
      {
        version: '2.0.0',
        compatible: TYPE,
        signer: 'trusted',
        files: { '/etc/os-release': 'VERSION_ID=2.0.0\n' },
      },
      path.join(work, 'os-2.0.0.raucb'),
    );

    api = await ApiServer.start({ osBundleKeyring: rauc.pki.trusted.ca });
    home = await mkdtemp(path.join(tmpdir(), 'skiff-cli-home-'));
    const fleet = await api.createFleet('meters', { deviceType: TYPE, pollIntervalSeconds: 1 });
    dataDir = await makeDataDir({
      apiUrl: api.url,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: TYPE,
      dockerHost: env.deviceDockerHost,
    });
    const osRelease = path.join(dataDir, 'os-release');
    await writeFile(osRelease, 'VERSION_ID=1.0.0\n');
    const settings: HostOsSettings = {
      raucConfig: rauc.systemConf,
      busAddress: rauc.busAddress,
      // The device "reboots" by saying so; the test then power-cycles it through the test bootloader.
      rebootCommand: ['/bin/sh', '-c', `touch '${rebootFlag()}'`],
      healthDeadlineSeconds: 20,
      osReleaseFile: osRelease,
    };
    await writeFile(path.join(dataDir, 'host-os.json'), JSON.stringify(settings));
  });

  after(async () => {
    await supervisor?.stop('SIGTERM');
    await api?.stop();
    await raucEnv('down', dir);
    if (home) await rm(home, { recursive: true, force: true });
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const start = () =>
    new SupervisorProcess(dataDir, { SKIFF_POLL_INTERVAL_MS: '500', SKIFF_REPORT_INTERVAL_MS: '200' });

  it('installs the pinned release from the API, reboots into it, commits it and reports the new version', async () => {
    supervisor = start();
    const current = supervisor;
    const uuid = await until(
      'the device registers',
      30_000,
      async () => {
        const devices = await api.admin.listDevices('meters');
        return devices[0]?.uuid ?? null;
      },
      () => current.logText(),
    );
    const factory = await until(
      'the factory OS is reported',
      30_000,
      async () => hostOsReported(uuid),
      () => current.logText(),
    );
    assert.deepEqual(factory, { version: '1.0.0', slot: 'A', updateState: 'idle', lastError: null });

    const uploaded = parse(
      OsReleaseSchema,
      await skiff('os', 'upload', bundle, '--device-type', TYPE, '--version', '2.0.0'),
      'skiff os upload',
    );
    assert.equal(uploaded.digest, await sha256File(bundle));
    const pin = parse(OsPinSchema, await skiff('os', 'pin', '2.0.0', '--fleet', 'meters'), 'skiff os pin');
    assert.equal(pin.effective?.id, uploaded.id);

    await until(
      'the device asks for a reboot',
      120_000,
      async () => (existsSync(rebootFlag()) ? true : null),
      () => current.logText(),
    );
    const downloads = api.requestsTo('GET', osPaths.bundle(uuid, uploaded.id));
    assert.ok(
      downloads.some((r) => r.status === 200 || r.status === 206),
      `the bundle came from the API's route: ${JSON.stringify(downloads)}`,
    );
    const waiting = await until(
      'the reboot state is reported',
      30_000,
      async () => {
        const reported = await hostOsReported(uuid);
        return reported?.updateState === 'reboot' ? reported : null;
      },
      () => current.logText(),
    );
    assert.equal(waiting.slot, 'A');

    // Power cycle: the supervisor goes down with the OS, the bootloader picks the freshly installed slot.
    await current.stop('SIGTERM');
    supervisor = null;
    await rm(rebootFlag(), { force: true });
    assert.equal(await raucEnv('boot', dir), 'B');
    supervisor = start();
    const restarted = supervisor;

    const committed = await until(
      'the new OS is committed and reported',
      90_000,
      async () => {
        const reported = await hostOsReported(uuid);
        return reported?.updateState === 'committed' ? reported : null;
      },
      () => restarted.logText(),
    );
    assert.deepEqual(committed, { version: '2.0.0', slot: 'B', updateState: 'committed', lastError: null });
    const { stdout } = await run(
      'rauc',
      [`--conf=${rauc.systemConf}`, 'status', '--detailed', '--output-format=json'],
      { env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: rauc.busAddress } },
    );
    const status = JSON.parse(stdout) as {
      booted: string;
      slots: Array<Record<string, { bootname?: string; boot_status?: string }>>;
    };
    const slotB = status.slots.flatMap((s) => Object.values(s)).find((s) => s.bootname === 'B');
    assert.equal(status.booted, 'B');
    assert.equal(slotB?.boot_status, 'good', 'the supervisor marked the new slot good');
    assert.equal(existsSync(rebootFlag()), false, 'no second reboot was asked for');
  });
});

// Host OS updates against real RAUC (scripts/rauc-env.sh): loop-device A/B slots, a private D-Bus, `rauc service`
// and the U-Boot-like test bootloader. The health check after a reboot reads the booted slot's own root filesystem,
// so a bundle decides by its content whether its OS is well.
import assert from 'node:assert/strict';
import { copyFile, mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { HostOsRelease } from '../../protocol/target-state.js';
import type { HealthCheck } from '../../supervisor/os-update/health.js';
import type { OsUpdateStep } from '../../supervisor/os-update/state-machine.js';
import { loadTestEnv, repoRoot } from '../../harness/env.js';
import {
  buildBundle,
  loadRaucEnv,
  RaucDevice,
  raucEnv,
  releaseOf,
  serveFiles,
  slotFile,
  type RaucEnv,
} from '../../harness/rauc-device.js';

function raucDir(): string {
  const root = process.env.SKIFF_ENV_FILE === undefined ? path.join(repoRoot, '.skiff', 'test') : loadTestEnv().root;
  return path.join(root, 'rauc');
}

/** The new OS is well when its rootfs says so: stands in for "engine, API and services are up" on a real device. */
function rootfsHealth(device: RaucDevice): HealthCheck[] {
  return [
    {
      name: 'services',
      run: async () => {
        const slot = device.bootedSlot;
        if (slot !== 'A' && slot !== 'B') throw new Error(`unknown booted slot ${slot}`);
        const marker = await slotFile(device.options.env.slots[slot], '/etc/skiff/healthy');
        if (marker === null) throw new Error(`meter-reader is not running on slot ${slot} (no /etc/skiff/healthy)`);
      },
    },
  ];
}

describe('host OS update with RAUC (integration)', function () {
  this.timeout(300_000);
  const dir = raucDir();
  const work = path.join(dir, 'work');
  let env: RaucEnv;
  let device: RaucDevice;
  let server: { baseUrl: string; close: () => Promise<void> };
  const releases: Record<string, HostOsRelease> = {};

  before(async () => {
    await raucEnv('up', dir);
    env = await loadRaucEnv(dir);
    await rm(work, { recursive: true, force: true });
    await mkdir(path.join(work, 'bundles'), { recursive: true });
    const bundles = path.join(work, 'bundles');
    const healthy = { '/etc/os-release': 'VERSION_ID=2.0.0\n', '/etc/skiff/healthy': 'yes\n' };
    await buildBundle(
      env,
      { version: '2.0.0', compatible: env.compatible, signer: 'trusted', files: healthy },
      path.join(bundles, 'good.raucb'),
    );
    await buildBundle(
      env,
      {
        version: '2.1.0',
        compatible: env.compatible,
        signer: 'trusted',
        files: { '/etc/os-release': 'VERSION_ID=2.1.0\n' },
      },
      path.join(bundles, 'sick.raucb'),
    );
    await buildBundle(
      env,
      { version: '2.0.1', compatible: env.compatible, signer: 'untrusted', files: healthy },
      path.join(bundles, 'other-key.raucb'),
    );
    await buildBundle(
      env,
      { version: '2.0.2', compatible: 'another-device-type', signer: 'trusted', files: healthy },
      path.join(bundles, 'other-device.raucb'),
    );
    // Tampered after signing: one byte of the payload flipped, as if changed on the server or in transit.
    await copyFile(path.join(bundles, 'good.raucb'), path.join(bundles, 'tampered.raucb'));
    const handle = await open(path.join(bundles, 'tampered.raucb'), 'r+');
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, 1000);
    await handle.write(Buffer.from([byte[0]! ^ 0xff]), 0, 1, 1000);
    await handle.close();
    server = await serveFiles(bundles);
    for (const [name, version] of [
      ['good', '2.0.0'],
      ['sick', '2.1.0'],
      ['other-key', '2.0.1'],
      ['other-device', '2.0.2'],
      ['tampered', '2.0.3'],
    ] as const) {
      // The digest is the served file's own: what the API recorded at upload. RAUC alone has to catch these.
      releases[name] = await releaseOf(path.join(bundles, `${name}.raucb`), version, server.baseUrl);
    }
    device = new RaucDevice({
      env,
      dataDir: path.join(work, 'device'),
      healthChecks: rootfsHealth,
      healthDeadlineMs: 1500,
    });
  });

  after(async () => {
    await device?.updater?.stop();
    await server?.close();
    await raucEnv('down', dir);
  });

  beforeEach(async () => {
    await device.reset();
  });

  async function expectCommitted(): Promise<void> {
    const record = device.record();
    assert.equal(record?.state, 'committed', `record: ${JSON.stringify(record)}`);
    assert.equal(device.bootedSlot, 'B');
    const status = await device.rauc.status();
    assert.equal(status.booted, 'B');
    assert.equal(status.primary, 'B');
    assert.equal(status.slots.find((s) => s.bootname === 'B')?.bootStatus, 'good');
    assert.deepEqual(device.updater?.report(), {
      version: '2.0.0',
      slot: 'B',
      updateState: 'committed',
      lastError: null,
    });
    assert.equal(await slotFile(env.slots.B, '/etc/os-release'), 'VERSION_ID=2.0.0\n');
  }

  async function expectRolledBack(reason: RegExp): Promise<void> {
    const record = device.record();
    assert.equal(record?.state, 'failed', `record: ${JSON.stringify(record)}`);
    assert.equal(record?.rolledBack, true);
    assert.match(record?.error ?? '', reason);
    assert.equal(device.bootedSlot, 'A');
    const status = await device.rauc.status();
    assert.equal(status.booted, 'A');
    assert.equal(status.primary, 'A');
    assert.equal(status.slots.find((s) => s.bootname === 'B')?.bootStatus, 'bad');
    const report = device.updater?.report();
    assert.equal(report?.version, '1.0.0');
    assert.equal(report?.slot, 'A');
  }

  it('installs to the inactive slot, reboots into it, checks health and commits', async () => {
    await device.update(releases.good!);
    await expectCommitted();
    assert.equal(device.boots, 2, 'one reboot into the new slot');
    // Committed: another power cycle stays on the new OS, and the same release is not installed again.
    await device.powerLoss();
    await device.boot();
    device.updater?.offer(releases.good!);
    await device.updater?.settled();
    assert.equal(device.rebootRequested, false);
    await expectCommitted();
  });

  it('rolls back to the old slot when the health check fails after the reboot, and says why', async () => {
    await device.update(releases.sick!);
    await expectRolledBack(/health check failed within 2 s: services: meter-reader is not running on slot B/);
    assert.equal(device.boots, 3, 'into B, then back to A');
    // The same bundle is not tried again; the device stays on A.
    device.updater?.offer(releases.sick!);
    await device.updater?.settled();
    assert.equal(device.rebootRequested, false);
  });

  for (const [name, reason] of [
    ['tampered', /signature verification failed/],
    ['other-key', /signature verification failed: .*unable to get local issuer certificate/],
    ['other-device', /Compatible mismatch: Expected 'skiff-test-device' but bundle manifest has 'another-device-type'/],
  ] as const) {
    it(`refuses a ${name} bundle with RAUC's reason and leaves the device as it is`, async () => {
      const before = await device.rauc.status();
      const slotB = await slotFile(env.slots.B, '/etc/os-release');
      await device.update(releases[name]!);
      const record = device.record();
      assert.equal(record?.state, 'failed');
      assert.equal(record?.rolledBack, false);
      assert.match(record?.error ?? '', /^bundle refused: rauc (info|install): /);
      assert.match(record?.error ?? '', reason);
      assert.equal(device.boots, 1, 'no reboot');
      const after = await device.rauc.status();
      assert.equal(after.booted, 'A');
      assert.equal(after.primary, before.primary);
      assert.equal(await slotFile(env.slots.B, '/etc/os-release'), slotB, 'slot B was not written');
      assert.deepEqual(device.updater?.report(), {
        version: '1.0.0',
        slot: 'A',
        updateState: 'failed',
        lastError: record?.error,
      });
    });
  }

  const commitPath: OsUpdateStep[] = ['download', 'verify', 'install', 'reboot', 'verify-boot', 'commit'];
  for (const state of commitPath) {
    for (const when of ['after-save', 'before-save'] as const) {
      // Before entering download, nothing is saved yet: the update simply starts again at the next offer.
      if (when === 'before-save' && state === 'download') continue;
      it(`power loss ${when === 'after-save' ? 'just after entering' : 'just before entering'} ${state} still ends committed`, async () => {
        device.store.cut = { state, when };
        await device.update(releases.good!);
        assert.equal(device.store.cut, null, 'the power cut happened');
        await device.powerLoss();
        await device.boot();
        await device.settle();
        device.updater?.offer(releases.good!);
        await device.updater?.settled();
        await device.settle();
        await expectCommitted();
      });
    }
  }

  for (const state of ['verify-boot', 'rollback', 'rollback-reboot'] as const) {
    for (const when of ['after-save', 'before-save'] as const) {
      it(`power loss ${when === 'after-save' ? 'just after entering' : 'just before entering'} ${state} of a sick OS ends rolled back`, async () => {
        device.store.cut = { state, when };
        await device.update(releases.sick!);
        assert.equal(device.store.cut, null, 'the power cut happened');
        await device.powerLoss();
        await device.boot();
        await device.settle();
        await expectRolledBack(/health check failed|bootloader fell back/);
      });
    }
  }
});

// The A/B host OS update cycle on a real kernel (slow: qemu under TCG, about 4 minutes): what the host tests
// cannot do, as this machine has no device-mapper. A verity bundle (os-image/build-bundle.sh --format verity) is
// installed by real RAUC inside the guest, which reads it through dm-verity; the guest's /init plays the U-Boot-like
// bootloader (attempt counter on the data disk) and the device (os-image/qemu/init.sh); the test powers it on
// after each reboot and reads what it reported on its serial console. The new root filesystem decides the health
// check by its content, so one bundle commits and the other is rolled back.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../harness/env.js';
import { QemuDevice, slotOf, type GuestBoot, type GuestEvent } from '../../harness/qemu-device.js';
import { signingPki } from '../../harness/qemu-pki.js';

const run = promisify(execFile);
const COMPATIBLE = 'skiff-qemu-device';

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The events of one boot, without the timing field, for whole-sequence comparisons. */
function sequence(boot: GuestBoot): Array<Pick<GuestEvent, 'event'> & Record<string, string>> {
  return boot.events
    .filter((e) => !['kernel', 'rauc-ready', 'installing'].includes(e.event))
    .map((e) => {
      const { uptime: _uptime, reason: _reason, ...fields } = e.fields;
      return { event: e.event, ...fields };
    });
}

function explain(boot: GuestBoot): string {
  return `\n--- serial console (${boot.seconds.toFixed(1)} s) ---\n${boot.serial.slice(-3000)}`;
}

describe('host OS update in qemu: verity bundle, dm-verity, A/B rollback (slow)', function () {
  this.timeout(600_000);
  const dir = process.env.SKIFF_QEMU_TEST_DIR ?? path.join(repoRoot, '.skiff', 'qemu-test');
  let device: QemuDevice;
  let good: { bundle: string; disk: string };
  let sick: { bundle: string; disk: string };
  const payload = randomBytes(256 * 1024);

  before(async () => {
    try {
      await run('qemu-system-x86_64', ['--version']);
    } catch (err) {
      throw new Error(
        `qemu-system-x86_64 cannot run (${(err as Error).message}): this slow test needs it; ` +
          'scripts/deps.sh installs it (apt-get install -y qemu-system-x86)',
      );
    }
    const pki = await signingPki(path.join(dir, 'pki'));
    device = await QemuDevice.prepare(dir, COMPATIBLE, pki);
    // The payload makes the image incompressible, so dm-verity has real data blocks to check.
    good = await device.verityBundleDisk(
      {
        version: '2.0.0',
        compatible: COMPATIBLE,
        pki,
        files: { '/etc/os-release': 'VERSION_ID=2.0.0\n', '/etc/skiff-health': 'ok\n', '/payload.bin': payload },
      },
      'good',
    );
    sick = await device.verityBundleDisk(
      {
        version: '2.1.0',
        compatible: COMPATIBLE,
        pki,
        files: { '/etc/os-release': 'VERSION_ID=2.1.0\n', '/payload.bin': payload },
      },
      'sick',
    );
  });

  beforeEach(async () => {
    await device.reset();
  });

  it('installs a verity bundle into slot B, boots it, finds it healthy and commits it', async () => {
    const install = await device.boot({ bundleDisk: good.disk });
    assert.deepEqual(
      sequence(install),
      [{ event: 'booted', slot: 'A', version: '1.0.0' }, { event: 'installed', slot: 'B' }, { event: 'reboot' }],
      explain(install),
    );
    assert.equal(install.status?.booted, 'A');
    assert.equal(slotOf(install.status, 'B')?.slot_status?.bundle?.version, '2.0.0');
    assert.equal(install.status?.boot_primary, 'rootfs.1', 'RAUC made B the slot to boot next');
    const written = await device.slotFile('B', '/payload.bin');
    assert.ok(written !== null, "slot B holds the bundle's root filesystem");
    assert.equal(sha256(Buffer.from(written, 'latin1')), sha256(payload));

    const trial = await device.boot();
    assert.deepEqual(
      sequence(trial),
      [
        { event: 'booted', slot: 'B', version: '2.0.0' },
        { event: 'committed', slot: 'B', version: '2.0.0' },
        { event: 'poweroff' },
      ],
      explain(trial),
    );
    assert.equal(trial.status?.booted, 'B');
    assert.equal(slotOf(trial.status, 'B')?.boot_status, 'good');
    // Committed: B first, with all its attempts back, so the next power-on stays on 2.0.0.
    const bootState = await device.dataFile('/boot-state');
    assert.match(bootState ?? '', /ORDER="B A"/);
    assert.match(bootState ?? '', /B_LEFT=3/);
    assert.equal(await device.dataFile('/trial'), null, 'no trial is pending any more');
  });

  it('rolls back to A when the new OS fails its health check', async () => {
    const install = await device.boot({ bundleDisk: sick.disk });
    assert.deepEqual(
      sequence(install),
      [{ event: 'booted', slot: 'A', version: '1.0.0' }, { event: 'installed', slot: 'B' }, { event: 'reboot' }],
      explain(install),
    );

    const trial = await device.boot();
    assert.deepEqual(
      sequence(trial),
      [
        { event: 'booted', slot: 'B', version: '2.1.0' },
        { event: 'health-failed', slot: 'B', version: '2.1.0' },
        { event: 'reboot' },
      ],
      explain(trial),
    );

    const back = await device.boot();
    assert.deepEqual(
      sequence(back),
      [
        { event: 'booted', slot: 'A', version: '1.0.0' },
        { event: 'rolled-back', from: 'B', to: 'A' },
        { event: 'poweroff' },
      ],
      explain(back),
    );
    assert.equal(back.status?.booted, 'A');
    assert.equal(back.status?.boot_primary, 'rootfs.0', 'A is the slot to boot again');
    assert.equal(slotOf(back.status, 'B')?.boot_status, 'bad');
    assert.match((await device.dataFile('/boot-state')) ?? '', /B_LEFT=0/);
  });

  it('refuses a verity bundle changed after signing: dm-verity in the guest finds it, B is never booted', async () => {
    // One payload byte flipped: the signature covers only the manifest (with the verity root hash), so only the
    // kernel's dm-verity, reading the bundle in the guest, can notice.
    const tampered = path.join(dir, 'tampered.raucb');
    await copyFile(good.bundle, tampered);
    const handle = await open(tampered, 'r+');
    try {
      const at = Math.floor((await stat(tampered)).size / 2);
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, at);
      byte[0] = (byte[0] ?? 0) ^ 0xff;
      await handle.write(byte, 0, 1, at);
    } finally {
      await handle.close();
    }
    const disk = path.join(dir, 'tampered.img');
    await device.bundleDisk(tampered, disk);

    const boot = await device.boot({ bundleDisk: disk });
    assert.deepEqual(
      sequence(boot),
      [{ event: 'booted', slot: 'A', version: '1.0.0' }, { event: 'install-failed' }, { event: 'poweroff' }],
      explain(boot),
    );
    const failure = boot.events.find((e) => e.event === 'install-failed');
    assert.match(failure?.fields.reason ?? '', /Failed updating slot rootfs\.1: .*Input\/output error/, explain(boot));
    assert.match(boot.serial, /device-mapper: verity: .*data block \d+ is corrupted/, 'the kernel says why');
    // RAUC marked B bad before writing to it: whatever part of the image reached it, it is never booted.
    assert.equal(boot.status?.boot_primary, 'rootfs.0', 'A stays the slot to boot');
    assert.equal(slotOf(boot.status, 'B')?.boot_status, 'bad');
    assert.match((await device.dataFile('/boot-state')) ?? '', /B_LEFT=0/);
  });
});

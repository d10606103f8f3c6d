// The qemu test device (os-image/qemu/device.sh) as a test drives it: prepare it once (kernel, initramfs, disks),
// power it on (with a bundle disk when an update "arrives") and read what the guest reported on its serial
// console. The guest's /init (os-image/qemu/init.sh) does the device's part with real RAUC, dm-verity and the test
// bootloader; this side only powers it on again after each reboot, as the hardware would.
import { execFile, spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Type, type Static } from '@sinclair/typebox';
import { parse } from '../protocol/validate.js';
import { repoRoot } from './env.js';
import type { SigningPki } from './qemu-pki.js';

const run = promisify(execFile);
const DEVICE_SH = path.join(repoRoot, 'os-image', 'qemu', 'device.sh');

/** One `SKIFF event=NAME key=value key="two words"` line of the guest. */
export interface GuestEvent {
  event: string;
  fields: Record<string, string>;
}

const GuestSlot = Type.Object({
  bootname: Type.String(),
  state: Type.String(),
  boot_status: Type.Optional(Type.String()),
  slot_status: Type.Optional(
    Type.Object({
      bundle: Type.Optional(Type.Object({ version: Type.Optional(Type.Union([Type.String(), Type.Null()])) })),
    }),
  ),
});
/** The part of `rauc status --detailed --output-format=json` in the guest the tests read. */
const GuestStatus = Type.Object({
  compatible: Type.String(),
  booted: Type.String(),
  boot_primary: Type.Union([Type.String(), Type.Null()]),
  slots: Type.Array(Type.Record(Type.String(), GuestSlot)),
});
export type GuestSlotStatus = Static<typeof GuestSlot>;

export interface GuestBoot {
  events: GuestEvent[];
  /** The last rauc status the guest printed in this boot; null if it printed none. */
  status: Static<typeof GuestStatus> | null;
  /** How the boot ended: the guest rebooted (into the next boot) or powered off. */
  ending: 'reboot' | 'poweroff';
  /** The whole serial console, for failure messages. */
  serial: string;
  seconds: number;
}

export function parseEvent(line: string): GuestEvent | null {
  const m = /^SKIFF event=(\S+)(.*)$/.exec(line);
  if (m === null) return null;
  const fields: Record<string, string> = {};
  for (const f of (m[2] ?? '').matchAll(/(\w[\w-]*)=(?:"([^"]*)"|(\S*))/g)) fields[f[1] ?? ''] = f[2] ?? f[3] ?? '';
  return { event: m[1] ?? '', fields };
}

export interface VerityBundleSpec {
  version: string;
  compatible: string;
  pki: SigningPki;
  /** Files of the new root filesystem, path -> content. */
  files: Record<string, string | Buffer>;
}

export class QemuDevice {
  private boots = 0;

  private constructor(readonly dir: string) {}

  /** Kernel (cached), initramfs trusting `pki`'s CA, factory disks. */
  static async prepare(dir: string, compatible: string, pki: SigningPki): Promise<QemuDevice> {
    await run('bash', [DEVICE_SH, 'prepare', dir, '--keyring', pki.ca, '--compatible', compatible], {
      timeout: 600_000,
      maxBuffer: 16 << 20,
    });
    return new QemuDevice(dir);
  }

  /** Back to the factory: slot A with OS 1.0.0, slot B empty, a blank data disk (bootloader defaults). */
  async reset(): Promise<void> {
    await run('bash', [DEVICE_SH, 'reset', this.dir], { timeout: 60_000 });
  }

  /** Builds a signed verity bundle with os-image/build-bundle.sh and puts it on a disk image for the guest. */
  async verityBundleDisk(spec: VerityBundleSpec, name: string): Promise<{ bundle: string; disk: string }> {
    const root = path.join(this.dir, `${name}.root`);
    const bundle = path.join(this.dir, `${name}.raucb`);
    const disk = path.join(this.dir, `${name}.img`);
    await rm(root, { recursive: true, force: true });
    for (const [file, content] of Object.entries(spec.files)) {
      await mkdir(path.dirname(path.join(root, file)), { recursive: true });
      await writeFile(path.join(root, file), content);
    }
    await run(
      'bash',
      [
        path.join(repoRoot, 'os-image', 'build-bundle.sh'),
        '--format',
        'verity',
        '--rootfs',
        root,
        '--version',
        spec.version,
        '--compatible',
        spec.compatible,
        '--cert',
        spec.pki.cert,
        '--key',
        spec.pki.key,
        '--out',
        bundle,
      ],
      { timeout: 120_000 },
    );
    await rm(root, { recursive: true, force: true });
    await this.bundleDisk(bundle, disk);
    return { bundle, disk };
  }

  async bundleDisk(bundle: string, disk: string): Promise<void> {
    await run('bash', [DEVICE_SH, 'bundle-disk', bundle, disk], { timeout: 60_000 });
  }

  /** Powers on and waits until the guest reboots or powers off; kills the VM when it hangs. */
  async boot(options: { bundleDisk?: string; timeoutMs?: number } = {}): Promise<GuestBoot> {
    const timeoutMs = options.timeoutMs ?? 150_000;
    this.boots += 1;
    const started = Date.now();
    const args = [DEVICE_SH, 'boot', this.dir, ...(options.bundleDisk === undefined ? [] : [options.bundleDisk])];
    const child = spawn('bash', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (exitCode) => resolve(exitCode));
    }).finally(() => clearTimeout(timer));
    const serial = output.replace(/\r/g, '');
    await writeFile(path.join(this.dir, `boot-${this.boots}.log`), serial);
    const tail = `\n--- serial console of boot ${this.boots} (${this.dir}/boot-${this.boots}.log) ---\n${serial.slice(-4000)}`;
    if (timedOut)
      throw new Error(`qemu device in ${this.dir}: boot ${this.boots} did not end within ${timeoutMs} ms${tail}`);
    if (code !== 0)
      throw new Error(`qemu device in ${this.dir}: qemu exited with ${code} in boot ${this.boots}${tail}`);

    const lines = serial.split('\n');
    const events = lines.map(parseEvent).filter((e): e is GuestEvent => e !== null);
    const statusLine = lines.filter((l) => l.startsWith('SKIFF-STATUS ')).at(-1);
    const status =
      statusLine === undefined
        ? null
        : parse(
            GuestStatus,
            JSON.parse(statusLine.slice('SKIFF-STATUS '.length)),
            `rauc status of the guest, boot ${this.boots}`,
          );
    const last = events.at(-1)?.event;
    if (last !== 'reboot' && last !== 'poweroff') {
      throw new Error(`qemu device in ${this.dir}: boot ${this.boots} ended without a reboot or poweroff event${tail}`);
    }
    return { events, status, ending: last, serial, seconds: (Date.now() - started) / 1000 };
  }

  /** A file of the data disk (boot counter, trial marker), read without mounting; null when it is not there. */
  async dataFile(file: string): Promise<string | null> {
    return debugfsCat(path.join(this.dir, 'data.img'), file);
  }

  /** A file of a slot's root filesystem, read without mounting; null when it is not there. */
  async slotFile(slot: 'A' | 'B', file: string): Promise<string | null> {
    return debugfsCat(path.join(this.dir, `slot-${slot.toLowerCase()}.img`), file);
  }
}

async function debugfsCat(image: string, file: string): Promise<string | null> {
  const { stdout, stderr } = await run('debugfs', ['-R', `cat ${file}`, image], {
    maxBuffer: 64 << 20,
    encoding: 'latin1',
  });
  return /File not found/.test(stderr) ? null : stdout;
}

/** The slot status of one bootname in a guest rauc status. */
export function slotOf(status: GuestBoot['status'], bootname: string): GuestSlotStatus | undefined {
  return status?.slots.flatMap((s) => Object.values(s)).find((s) => s.bootname === bootname);
}

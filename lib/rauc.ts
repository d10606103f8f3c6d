// RAUC driven through its CLI (which talks to `rauc service` over D-Bus): read the slots, check a bundle's
// signature, install, mark slots good or bad. RAUC's own words are kept in the errors: they are what the operator
// sees in the state report when a bundle is refused.
import { execFile } from 'node:child_process';
import { Type } from '@sinclair/typebox';
import { parse } from '../protocol/validate.js';

export interface RaucOptions {
  /** system.conf; RAUC's default (/etc/rauc/system.conf) when absent. */
  configPath?: string;
  /** D-Bus system bus address of `rauc service`; the environment's when absent. */
  busAddress?: string;
  /** CA certificate(s) bundles must be signed by, instead of system.conf's keyring (the API checks uploads so). */
  keyring?: string;
  /** The rauc executable. */
  command?: string;
  /** An install of a large bundle on an SD card takes minutes. */
  installTimeoutMs?: number;
}

export interface RaucSlot {
  name: string;
  bootname: string | null;
  state: string;
  bootStatus: string | null;
  /** Version of the bundle last installed to the slot; null if none was (e.g. the factory image). */
  bundleVersion: string | null;
}

export interface RaucStatus {
  compatible: string;
  /** Bootname of the booted slot. */
  booted: string;
  /** Bootname of the slot the bootloader boots next. */
  primary: string | null;
  slots: RaucSlot[];
}

export interface RaucBundleInfo {
  compatible: string;
  version: string | null;
}

export class RaucError extends Error {
  constructor(
    readonly operation: string,
    readonly reason: string,
  ) {
    super(`rauc ${operation}: ${reason}`);
    this.name = 'RaucError';
  }
}

const SlotJson = Type.Object({
  bootname: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  state: Type.String(),
  boot_status: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  slot_status: Type.Optional(
    Type.Object({
      bundle: Type.Optional(Type.Object({ version: Type.Optional(Type.Union([Type.String(), Type.Null()])) })),
    }),
  ),
});
const StatusJson = Type.Object({
  compatible: Type.String(),
  booted: Type.String(),
  boot_primary: Type.Union([Type.String(), Type.Null()]),
  slots: Type.Array(Type.Record(Type.String(), SlotJson)),
});
const InfoJson = Type.Object({
  compatible: Type.String(),
  version: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});

/** The line that says why: RAUC's LastError, else its last message that is not a progress or info line. */
export function reasonOf(stdout: string, stderr: string): string {
  const lastError = /^LastError: (.+)$/m.exec(stdout);
  if (lastError?.[1] !== undefined) return lastError[1].trim();
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('rauc-Message:') && !/^Installing .* failed$/.test(l));
  return lines.at(-1) ?? (stderr.trim() || 'no reason given');
}

export class Rauc {
  constructor(private readonly options: RaucOptions = {}) {}

  private run(operation: string, args: string[], timeoutMs = 60_000): Promise<string> {
    const conf = [
      ...(this.options.configPath === undefined ? [] : [`--conf=${this.options.configPath}`]),
      ...(this.options.keyring === undefined ? [] : [`--keyring=${this.options.keyring}`]),
    ];
    const env =
      this.options.busAddress === undefined
        ? process.env
        : { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: this.options.busAddress };
    return new Promise((resolve, reject) => {
      execFile(
        this.options.command ?? 'rauc',
        [...conf, ...args],
        { env, timeout: timeoutMs, maxBuffer: 16 << 20 },
        (err, stdout, stderr) => {
          if (err === null) resolve(stdout);
          else reject(new RaucError(operation, reasonOf(stdout, stderr)));
        },
      );
    });
  }

  async status(): Promise<RaucStatus> {
    const out = await this.run('status', ['status', '--detailed', '--output-format=json']);
    const json = parse(StatusJson, JSON.parse(out), 'rauc status output');
    const slots: RaucSlot[] = json.slots
      .flatMap((entry) => Object.entries(entry))
      .map(([name, s]) => ({
        name,
        bootname: s.bootname ?? null,
        state: s.state,
        bootStatus: s.boot_status ?? null,
        bundleVersion: s.slot_status?.bundle?.version ?? null,
      }));
    const primary =
      json.boot_primary === null ? null : (slots.find((s) => s.name === json.boot_primary)?.bootname ?? null);
    return { compatible: json.compatible, booted: json.booted, primary, slots };
  }

  /** Reads the manifest after checking the signature against the keyring: a bundle RAUC would refuse fails here. */
  async info(bundle: string): Promise<RaucBundleInfo> {
    const out = await this.run('info', ['info', '--output-format=json', bundle]);
    const json = parse(InfoJson, JSON.parse(out), `rauc info output for ${bundle}`);
    return { compatible: json.compatible, version: json.version ?? null };
  }

  async install(bundle: string): Promise<void> {
    await this.run('install', ['install', bundle], this.options.installTimeoutMs ?? 30 * 60_000);
  }

  /** slot: 'booted', 'other' or a slot name such as rootfs.1. */
  async mark(state: 'good' | 'bad', slot: string): Promise<void> {
    await this.run(`status mark-${state}`, ['status', `mark-${state}`, slot]);
  }
}

// A device with real RAUC for the host OS update tests: scripts/rauc-env.sh provides loop-device slots, a private
// D-Bus, `rauc service` and the U-Boot-like test bootloader; this class plays the rest of the device (power on,
// power loss, the reboot the update asks for) around a real OsUpdater, and builds signed bundles.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { HostOsRelease } from '../protocol/target-state.js';
import { createLogger } from '../lib/logger.js';
import { RangeBundleFetcher } from '../supervisor/os-update/bundle-fetcher.js';
import type { HealthCheck } from '../supervisor/os-update/health.js';
import { OsUpdater } from '../supervisor/os-update/os-updater.js';
import { Rauc } from '../lib/rauc.js';
import { FileRecordStore, type OsUpdateRecordStore } from '../supervisor/os-update/record-store.js';
import type { OsUpdateRecord } from '../supervisor/os-update/state-machine.js';
import { repoRoot } from './env.js';

const run = promisify(execFile);

export interface RaucEnv {
  dir: string;
  compatible: string;
  busAddress: string;
  systemConf: string;
  bootState: string;
  slots: Record<'A' | 'B', string>;
  pki: Record<'trusted' | 'untrusted', { ca: string; cert: string; key: string }>;
}

/** `compatible`: RAUC's compatible string of the slots `up` makes (a device type, e.g. raspberrypi4-64). */
export async function raucEnv(
  command: 'up' | 'boot' | 'crash' | 'down',
  dir: string,
  compatible?: string,
): Promise<string> {
  const args = [
    path.join(repoRoot, 'scripts', 'rauc-env.sh'),
    command,
    dir,
    ...(compatible === undefined ? [] : [compatible]),
  ];
  const { stdout } = await run('bash', args, {
    timeout: 120_000,
  });
  return stdout.trim();
}

export async function loadRaucEnv(dir: string): Promise<RaucEnv> {
  return JSON.parse(await readFile(path.join(dir, 'env.json'), 'utf8')) as RaucEnv;
}

export interface BundleSpec {
  version: string;
  compatible: string;
  signer: 'trusted' | 'untrusted';
  /** Files of the root filesystem, path -> content. */
  files: Record<string, string>;
}

/** Builds a bundle with os-image/build-bundle.sh; returns its path. */
export async function buildBundle(env: RaucEnv, spec: BundleSpec, out: string): Promise<string> {
  const root = `${out}.root`;
  await rm(root, { recursive: true, force: true });
  for (const [file, content] of Object.entries(spec.files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), content);
  }
  const pki = env.pki[spec.signer];
  await run(
    'bash',
    [
      path.join(repoRoot, 'os-image', 'build-bundle.sh'),
      '--rootfs',
      root,
      '--version',
      spec.version,
      '--compatible',
      spec.compatible,
      '--cert',
      pki.cert,
      '--key',
      pki.key,
      '--out',
      out,
    ],
    { timeout: 120_000 },
  );
  await rm(root, { recursive: true, force: true });
  return out;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** Serves a directory's files over HTTP (the bundle server's role; registry-api serves them on a real device). */
export async function serveFiles(dir: string): Promise<{ baseUrl: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const file = path.join(dir, path.basename(req.url ?? '/'));
    stat(file).then(
      (s) => {
        res.writeHead(200, { 'content-length': s.size, 'content-type': 'application/octet-stream' });
        createReadStream(file).pipe(res);
      },
      () => {
        res.writeHead(404).end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('bundle server has no port');
  return {
    baseUrl: `http://127.0.0.1:${address.port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export async function releaseOf(file: string, version: string, baseUrl: string): Promise<HostOsRelease> {
  return {
    version,
    digest: await sha256File(file),
    size: (await stat(file)).size,
    url: `${baseUrl}${path.basename(file)}`,
  };
}

/** Reads a file from a slot's ext4 filesystem without mounting it; null when the file is not there. */
export async function slotFile(device: string, file: string): Promise<string | null> {
  const { stdout, stderr } = await run('debugfs', ['-R', `cat ${file}`, device]);
  return /File not found/.test(stderr) ? null : stdout;
}

/** The power cut the test wants: right after the record entered `state` was saved, or instead of saving it. */
export interface PowerCut {
  state: OsUpdateRecord['state'];
  when: 'after-save' | 'before-save';
}

export class PowerLoss extends Error {
  constructor(cut: PowerCut) {
    super(`power lost ${cut.when === 'after-save' ? 'right after entering' : 'before entering'} ${cut.state}`);
  }
}

/** The real record store, with a power cut at one chosen save. */
class CuttingStore implements OsUpdateRecordStore {
  cut: PowerCut | null = null;
  constructor(private readonly inner: FileRecordStore) {}
  load(): Promise<OsUpdateRecord | null> {
    return this.inner.load();
  }
  async save(record: OsUpdateRecord): Promise<void> {
    const cut = this.cut;
    const hit = cut !== null && cut.state === record.state;
    if (hit && cut.when === 'before-save') {
      this.cut = null;
      throw new PowerLoss(cut);
    }
    await this.inner.save(record);
    if (hit && cut.when === 'after-save') {
      this.cut = null;
      throw new PowerLoss(cut);
    }
  }
}

export interface RaucDeviceOptions {
  env: RaucEnv;
  dataDir: string;
  /** The health checks after a reboot into a new OS. */
  healthChecks: (device: RaucDevice) => HealthCheck[];
  healthDeadlineMs: number;
}

export class RaucDevice {
  readonly rauc: Rauc;
  readonly store: CuttingStore;
  updater: OsUpdater | null = null;
  /** Set when the updater asked for a reboot; the test performs it with boot(). */
  rebootRequested = false;
  bootedSlot: string | null = null;
  boots = 0;

  constructor(readonly options: RaucDeviceOptions) {
    this.rauc = new Rauc({ configPath: options.env.systemConf, busAddress: options.env.busAddress });
    this.store = new CuttingStore(new FileRecordStore(options.dataDir));
  }

  /** Back to the factory state: slot A booted with OS 1.0.0, no update record, bootloader defaults. */
  async reset(): Promise<void> {
    await this.updater?.stop();
    await raucEnv('crash', this.options.env.dir);
    await rm(this.options.env.bootState, { force: true });
    await rm(path.join(this.options.env.dir, 'data', 'central.raucs'), { force: true });
    await rm(this.options.dataDir, { recursive: true, force: true });
    await mkdir(this.options.dataDir, { recursive: true });
    await writeFile(path.join(this.options.dataDir, 'factory-version'), '1.0.0\n');
    this.boots = 0;
    await this.boot();
  }

  /** Powers on (after a reboot or a power cut): the bootloader picks a slot, RAUC and the updater start. */
  async boot(): Promise<void> {
    this.bootedSlot = await raucEnv('boot', this.options.env.dir);
    this.boots += 1;
    this.rebootRequested = false;
    const dataDir = this.options.dataDir;
    this.updater = new OsUpdater({
      store: this.store,
      rauc: this.rauc,
      fetcher: new RangeBundleFetcher(path.join(dataDir, 'partial')),
      bundleDir: path.join(dataDir, 'bundles'),
      healthChecks: () => this.options.healthChecks(this),
      healthDeadlineMs: this.options.healthDeadlineMs,
      healthRetryMs: 100,
      reboot: async () => {
        this.rebootRequested = true;
      },
      baseVersion: async () => (await readFile(path.join(dataDir, 'factory-version'), 'utf8')).trim(),
      downloadRetryMs: 200,
      log: createLogger('os-update-test').child({ boot: this.boots }),
    });
    try {
      await this.updater.start();
    } catch (err) {
      // The cut can hit the resume itself (its state entry is a save): the device is off again.
      if (!(err instanceof PowerLoss)) throw err;
      return;
    }
    await this.updater.settled();
  }

  /** Power cut: rauc service dies, the updater is gone mid-step. */
  async powerLoss(): Promise<void> {
    await this.updater?.stop().catch(() => undefined);
    this.updater = null;
    await raucEnv('crash', this.options.env.dir);
  }

  /** Offers a release and lets the device run: reboots as asked, until nothing is left to do or it is cut. */
  async update(release: HostOsRelease, maxBoots = 8): Promise<void> {
    const updater = this.updater;
    if (updater === null) throw new Error('device is off');
    updater.offer(release);
    await updater.settled();
    await this.settle(maxBoots);
  }

  /** Performs requested reboots until the device is quiet. */
  async settle(maxBoots = 8): Promise<void> {
    for (let i = 0; this.rebootRequested; i++) {
      if (i >= maxBoots) throw new Error(`device still rebooting after ${maxBoots} boots`);
      await this.updater?.stop();
      await this.boot();
    }
  }

  record(): OsUpdateRecord | null {
    return this.updater?.currentRecord() ?? null;
  }
}

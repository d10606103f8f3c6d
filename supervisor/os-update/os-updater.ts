// Runs host OS updates through the persisted state machine: each state is saved before its work starts, so a power
// cut anywhere resumes at the right step (see resumeState). One update at a time; a release that failed or was
// rolled back is not tried again until the target names another bundle.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { HostOsRelease } from '../../protocol/target-state.js';
import type { HostOsReport } from '../../protocol/state-report.js';
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import type { BundleFetcher } from './bundle-fetcher.js';
import { checkHealth, type HealthCheck } from './health.js';
import type { Rauc, RaucStatus } from '../../lib/rauc.js';
import type { OsUpdateRecordStore } from './record-store.js';
import {
  begin,
  enter,
  isFinal,
  resumeState,
  type OsUpdatePhase,
  type OsUpdateRecord,
  type OsUpdateStep,
} from './state-machine.js';

export type RaucPort = Pick<Rauc, 'status' | 'info' | 'install' | 'mark'>;

export interface OsUpdaterOptions {
  store: OsUpdateRecordStore;
  rauc: RaucPort;
  fetcher: BundleFetcher;
  /** Where the downloaded bundle is kept until it is installed. */
  bundleDir: string;
  /** Base for relative bundle URLs (the API's). */
  apiBaseUrl?: string;
  /** Headers for the bundle download (the device's credentials). */
  requestHeaders?: () => Record<string, string>;
  /** What must be well after booting a new OS; asked for fresh at each verification. */
  healthChecks: () => HealthCheck[];
  healthDeadlineMs: number;
  healthRetryMs?: number;
  /** Restarts the device. On a device it does not come back; in tests it returns and the updater stops. */
  reboot: () => Promise<void>;
  /** The OS version of a slot no bundle was installed to (the factory image): e.g. /etc/os-release. */
  baseVersion: () => Promise<string | null>;
  /** Wait before retrying a failed download (the network comes and goes). */
  downloadRetryMs?: number;
  log: Logger;
  onChange?: () => void;
  now?: () => Date;
}

/** error: the reason to record; null clears it; absent keeps the record's. */
type StepResult = { next: OsUpdatePhase; error?: string | null } | 'rebooted' | 'retry-later';

export class OsUpdater {
  private record: OsUpdateRecord | null = null;
  private slot: string | null = null;
  private version: string | null = null;
  private running: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: OsUpdaterOptions) {}

  private get bundleFile(): string {
    return path.join(this.options.bundleDir, 'os-update.raucb');
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  /** Loads the persisted update and, if one was under way, continues it from where the device is now. */
  async start(): Promise<void> {
    this.record = await this.options.store.load();
    const status = await this.refresh();
    const record = this.record;
    if (record === null || isFinal(record.state)) return;
    const resumed = resumeState(record, { booted: status.booted, primary: status.primary ?? status.booted });
    this.options.log.info({ was: record.state, now: resumed.state, booted: status.booted }, 'resuming OS update');
    await this.persist({
      ...enter(record, resumed.state, this.now(), resumed.error),
      rolledBack: resumed.rolledBack || record.rolledBack,
    });
    this.run();
  }

  /** The target's host OS release: starts an update when it differs from what runs and was not tried already. */
  offer(release: HostOsRelease | undefined): void {
    if (release === undefined || this.stopped || this.running !== undefined) return;
    const record = this.record;
    if (record !== null && !isFinal(record.state)) return;
    if (release.version === this.version) return;
    if (record !== null && record.release.digest === release.digest) return;
    this.running = this.beginUpdate(release)
      .catch((err: unknown) => this.options.log.error({ err: messageOf(err) }, 'cannot start OS update'))
      .finally(() => {
        this.running = undefined;
      });
  }

  /** Resolves when no update step is running (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.settled();
  }

  report(): HostOsReport {
    return {
      version: this.version,
      slot: this.slot,
      updateState: this.record?.state ?? 'idle',
      lastError: this.record?.error ?? null,
    };
  }

  currentRecord(): OsUpdateRecord | null {
    return this.record;
  }

  private async beginUpdate(release: HostOsRelease): Promise<void> {
    const status = await this.refresh();
    const other = status.slots.find((s) => s.bootname !== null && s.bootname !== status.booted)?.bootname ?? null;
    if (other === null)
      throw new Error(`RAUC reports no slot besides the booted ${status.booted}: no A/B update possible`);
    this.options.log.info({ version: release.version, from: status.booted, to: other }, 'OS update begins');
    await this.persist(begin(release, status.booted, other, this.now()));
    await this.drive();
  }

  private run(): void {
    if (this.running !== undefined) return;
    this.running = this.drive()
      .catch((err: unknown) => this.options.log.error({ err: messageOf(err) }, 'OS update stopped'))
      .finally(() => {
        this.running = undefined;
      });
  }

  /** Steps until the update ends or the device reboots. A failed save (disk, power) stops it where it stands. */
  private async drive(): Promise<void> {
    while (this.record !== null && !isFinal(this.record.state) && !this.stopped) {
      const record = this.record;
      const result = await this.step(record.state as OsUpdateStep, record);
      if (result === 'rebooted') return;
      if (result === 'retry-later') {
        this.retryTimer = setTimeout(() => this.run(), this.options.downloadRetryMs ?? 60_000);
        return;
      }
      await this.persist(
        enter(record, result.next, this.now(), result.error === undefined ? record.error : result.error),
      );
    }
    if (this.record !== null && isFinal(this.record.state)) {
      await rm(this.bundleFile, { force: true });
      await this.refresh().catch(() => undefined);
      this.options.onChange?.();
    }
  }

  private async step(state: OsUpdateStep, record: OsUpdateRecord): Promise<StepResult> {
    const log = this.options.log.child({ osUpdate: record.release.version, state });
    log.info('OS update step');
    switch (state) {
      case 'download':
        try {
          await mkdir(this.options.bundleDir, { recursive: true });
          const url = new URL(record.release.url, this.options.apiBaseUrl).toString();
          await this.options.fetcher.fetchToFile(
            { url, digest: record.release.digest, size: record.release.size, headers: this.options.requestHeaders?.() },
            this.bundleFile,
          );
          return { next: 'verify' };
        } catch (err) {
          log.warn({ err: messageOf(err) }, 'bundle download failed; retrying later');
          return 'retry-later';
        }
      case 'verify':
        try {
          const digest = await sha256Of(this.bundleFile);
          if (digest !== record.release.digest) {
            return {
              next: 'failed',
              error: `bundle refused: its digest is ${digest}, the release says ${record.release.digest}`,
            };
          }
          await this.options.rauc.info(this.bundleFile);
          return { next: 'install' };
        } catch (err) {
          return { next: 'failed', error: `bundle refused: ${messageOf(err)}` };
        }
      case 'install':
        try {
          await this.options.rauc.install(this.bundleFile);
          await rm(this.bundleFile, { force: true });
          return { next: 'reboot' };
        } catch (err) {
          return { next: 'failed', error: `bundle refused: ${messageOf(err)}` };
        }
      case 'reboot':
      case 'rollback-reboot':
        await this.options.reboot();
        return 'rebooted';
      case 'verify-boot': {
        const verdict = await checkHealth(this.options.healthChecks(), {
          deadlineMs: this.options.healthDeadlineMs,
          retryMs: this.options.healthRetryMs,
        });
        return verdict.ok ? { next: 'commit' } : { next: 'rollback', error: verdict.reason };
      }
      case 'commit':
        try {
          await this.options.rauc.mark('good', 'booted');
          log.info('new OS committed');
          return { next: 'committed', error: null };
        } catch (err) {
          return { next: 'rollback', error: `cannot commit the new OS: ${messageOf(err)}` };
        }
      case 'rollback':
        try {
          await this.options.rauc.mark('bad', 'booted');
        } catch (err) {
          // The bootloader's attempt counter still takes the device back; the reboot must happen anyway.
          log.error({ err: messageOf(err) }, 'cannot mark the new slot bad; rebooting anyway');
        }
        log.warn({ reason: record.error }, 'rolling back to the previous OS');
        return { next: 'rollback-reboot' };
    }
  }

  private async persist(record: OsUpdateRecord): Promise<void> {
    await this.options.store.save(record);
    this.record = record;
    this.options.onChange?.();
  }

  private async refresh(): Promise<RaucStatus> {
    const status = await this.options.rauc.status();
    this.slot = status.booted;
    const booted = status.slots.find((s) => s.bootname === status.booted);
    this.version = booted?.bundleVersion ?? (await this.options.baseVersion());
    return status;
  }
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

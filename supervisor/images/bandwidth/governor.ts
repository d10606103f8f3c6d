// Keeps the device's one token bucket at the cap the target's config asks for right now. A plain cap only changes
// with the config; a schedule changes it when a period starts or ends, and periods are whole minutes, so a device
// with a schedule looks again at every minute boundary (and a device without one sets no timer at all).
import type { Logger } from '../../../lib/logger.js';
import type { DeviceConfig } from '../../../protocol/target-state.js';
import { bandwidthCapAt } from './cap.js';
import type { TokenBucket } from './token-bucket.js';

type CapConfig = Pick<DeviceConfig, 'bandwidthCapBytesPerSecond' | 'bandwidthSchedule'>;

export interface BandwidthGovernorOptions {
  bucket: TokenBucket;
  log: Logger;
  /** The wall clock schedules are judged by (tests inject one). */
  now?: () => Date;
}

/** Milliseconds from `now` to the start of the next minute (at least 1). */
export function msToNextMinute(now: Date): number {
  return Math.max(1, 60_000 - (now.getTime() % 60_000));
}

export class BandwidthGovernor {
  private config: CapConfig | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => Date;

  constructor(private readonly options: BandwidthGovernorOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** The config of the target now being run; null: none (no cap). */
  follow(config: CapConfig | null): void {
    this.config = config;
    this.update();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private update(): void {
    this.stop();
    const { bucket, log } = this.options;
    const now = this.now();
    let rate: number | null = null;
    try {
      rate = this.config === null ? null : bandwidthCapAt(this.config, now);
    } catch (err) {
      // A schedule with a timezone this Node does not know: keep the plain cap rather than none.
      log.error(
        { err: err instanceof Error ? err.message : String(err) },
        'bandwidth schedule unusable; the plain cap applies',
      );
      rate = this.config?.bandwidthCapBytesPerSecond ?? null;
    }
    if (rate !== bucket.currentRate()) {
      bucket.setRate(rate);
      log.info({ bytesPerSecond: rate }, rate === null ? 'downloads uncapped' : 'bandwidth cap set');
    }
    if ((this.config?.bandwidthSchedule ?? []).length > 0) {
      this.timer = setTimeout(() => this.update(), msToNextMinute(now));
      // A schedule must not keep a stopping process alive.
      this.timer.unref();
    }
  }
}

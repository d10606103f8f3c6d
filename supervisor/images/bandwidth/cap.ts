// The bandwidth cap in force at a moment: the first schedule period that contains the local time of day (in the
// period's timezone) wins, else the config's plain cap. Pure; the downloader's token bucket takes the result.
import type { BandwidthPeriod, DeviceConfig } from '../../../protocol/target-state.js';

type Config = Pick<DeviceConfig, 'bandwidthCapBytesPerSecond' | 'bandwidthSchedule'>;

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/** Minutes since local midnight of `now` in `timezone`. */
export function localMinutes(now: Date, timezone: string): number {
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat('en-GB', {
      timeZone: timezone,
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).formatToParts(now);
  } catch (err) {
    throw new Error(
      `bandwidth schedule timezone '${timezone}' is invalid: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const hour = Number(parts.find((p) => p.type === 'hour')?.value);
  const minute = Number(parts.find((p) => p.type === 'minute')?.value);
  return hour * 60 + minute;
}

/** A period from 22:00 to 06:00 runs over midnight; from == to means all day. */
export function periodContains(period: BandwidthPeriod, now: Date): boolean {
  const t = localMinutes(now, period.timezone);
  const from = minutesOf(period.from);
  const to = minutesOf(period.to);
  if (from === to) return true;
  return from < to ? t >= from && t < to : t >= from || t < to;
}

/** Bytes per second allowed at `now`; null: no cap. */
export function bandwidthCapAt(config: Config, now: Date): number | null {
  const period = (config.bandwidthSchedule ?? []).find((p) => periodContains(p, now));
  return period !== undefined ? period.bytesPerSecond : config.bandwidthCapBytesPerSecond;
}

// How the device feels: CPU, memory, temperature, disk, uptime and the Pi's under-voltage flag. systeminformation
// is loaded on the first sample only: it is large, and a supervisor that never reports metrics should not carry it.
// Values go into reports in buckets (bucketKey), so a CPU wobbling between 31% and 34% is not news worth a report
// over a metered link.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { uptime } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DeviceMetrics } from '../../protocol/state-report.js';

/** Where Raspberry Pi OS exposes the firmware's throttling flags (hex, e.g. 0x50005). */
export const PI_THROTTLED_FILE = '/sys/devices/platform/soc/soc:firmware/get_throttled';

/** Bit 0: under-voltage now; bit 16: under-voltage occurred since boot. */
const UNDERVOLTAGE_BITS = 0x1 | 0x10000;

/** The under-voltage flag from a get_throttled value ("0x50005" or "throttled=0x50005"); undefined if unreadable. */
export function undervoltageOf(text: string): boolean | undefined {
  const match = /(?:throttled=)?(0x[0-9a-f]+)/i.exec(text.trim());
  if (match?.[1] === undefined) return undefined;
  return (Number.parseInt(match[1], 16) & UNDERVOLTAGE_BITS) !== 0;
}

async function readUndervoltage(throttledFile: string): Promise<boolean | undefined> {
  try {
    return undervoltageOf(await readFile(throttledFile, 'utf8'));
  } catch {
    // Not a Pi, or an older kernel: vcgencmd may still know.
  }
  try {
    const { stdout } = await promisify(execFile)('vcgencmd', ['get_throttled'], { timeout: 2_000 });
    return undervoltageOf(stdout);
  } catch {
    return undefined;
  }
}

/** The filesystem entry whose mount point holds `dir` (the longest matching mount). */
function fsHolding<T extends { mount: string }>(entries: T[], dir: string): T | undefined {
  const resolved = path.resolve(dir);
  return entries
    .filter((e) => resolved === e.mount || resolved.startsWith(e.mount.endsWith('/') ? e.mount : `${e.mount}/`))
    .sort((a, b) => b.mount.length - a.mount.length)[0];
}

export interface MetricsOptions {
  /** The disk reported is the one holding this folder (the supervisor's data dir). */
  dataDir: string;
  throttledFile?: string;
}

export async function sampleMetrics(options: MetricsOptions): Promise<DeviceMetrics> {
  const si = (await import('systeminformation')).default;
  const [load, mem, temperature, disks, undervoltage] = await Promise.all([
    si.currentLoad(),
    si.mem(),
    si.cpuTemperature(),
    si.fsSize(),
    readUndervoltage(options.throttledFile ?? PI_THROTTLED_FILE),
  ]);
  const disk = fsHolding(disks, options.dataDir);
  return {
    cpuPercent: Math.round(load.currentLoad * 10) / 10,
    // `active` leaves out page cache the kernel gives back on demand: what services really hold.
    memoryUsedBytes: Math.round(mem.active),
    memoryTotalBytes: Math.round(mem.total),
    temperatureCelsius:
      typeof temperature.main === 'number' && Number.isFinite(temperature.main) ? temperature.main : null,
    diskUsedBytes: Math.round(disk?.used ?? 0),
    diskTotalBytes: Math.round(disk?.size ?? 0),
    // From node:os, not si.time(): that one also works out the timezone through Intl, which maps ICU's zone data
    // into memory (about 5 MB of RSS, measured) for a field the report does not carry.
    uptimeSeconds: Math.round(uptime()),
    ...(undervoltage === undefined ? {} : { undervoltage }),
  };
}

const CPU_BUCKET_PERCENT = 20;
const TEMPERATURE_BUCKET_CELSIUS = 5;
const MEMORY_BUCKET_FRACTION = 0.1;
const DISK_BUCKET_FRACTION = 0.05;

function bucket(value: number, size: number): number {
  return Math.floor(value / size);
}

/**
 * How far past the edge of the reported value's bucket a value must go to count as moved, as a fraction of the
 * bucket: a CPU at 39-41% sits on the 40% edge and would otherwise be news every sample.
 */
const HYSTERESIS = 0.25;

/** Whether `value` left the bucket `reported` is in by more than the hysteresis. */
function left(reported: number, value: number, size: number): boolean {
  const low = bucket(reported, size) * size;
  return value < low - size * HYSTERESIS || value >= low + size * (1 + HYSTERESIS);
}

/**
 * Whether metrics moved enough since `reported` (the values last reported) to be worth a report: a value left its
 * bucket by more than a quarter bucket, or the under-voltage flag or a temperature's presence changed. Uptime
 * grows by itself and never is.
 */
export function metricsMoved(reported: DeviceMetrics, now: DeviceMetrics): boolean {
  const fraction = (used: number, total: number): number => (total === 0 ? 0 : used / total);
  if ((reported.undervoltage ?? null) !== (now.undervoltage ?? null)) return true;
  if ((reported.temperatureCelsius === null) !== (now.temperatureCelsius === null)) return true;
  return (
    left(reported.cpuPercent, now.cpuPercent, CPU_BUCKET_PERCENT) ||
    left(
      fraction(reported.memoryUsedBytes, reported.memoryTotalBytes),
      fraction(now.memoryUsedBytes, now.memoryTotalBytes),
      MEMORY_BUCKET_FRACTION,
    ) ||
    (reported.temperatureCelsius !== null &&
      now.temperatureCelsius !== null &&
      left(reported.temperatureCelsius, now.temperatureCelsius, TEMPERATURE_BUCKET_CELSIUS)) ||
    left(
      fraction(reported.diskUsedBytes, reported.diskTotalBytes),
      fraction(now.diskUsedBytes, now.diskTotalBytes),
      DISK_BUCKET_FRACTION,
    )
  );
}

/** What must change for metrics to be worth a report; uptime grows by itself and never is. */
export function bucketKey(m: DeviceMetrics): string {
  return JSON.stringify([
    bucket(m.cpuPercent, CPU_BUCKET_PERCENT),
    m.memoryTotalBytes === 0 ? 0 : bucket(m.memoryUsedBytes / m.memoryTotalBytes, MEMORY_BUCKET_FRACTION),
    m.temperatureCelsius === null ? null : bucket(m.temperatureCelsius, TEMPERATURE_BUCKET_CELSIUS),
    m.diskTotalBytes === 0 ? 0 : bucket(m.diskUsedBytes / m.diskTotalBytes, DISK_BUCKET_FRACTION),
    m.undervoltage ?? null,
  ]);
}

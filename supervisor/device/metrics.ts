// How the device feels: CPU, memory, temperature, disk, uptime and the Pi's under-voltage flag, read straight from
// the kernel (/proc/stat, /proc/meminfo, the first thermal zone, statfs of the data dir). systeminformation did
// this before; loading it and its first samples cost an idle supervisor about 10 MB of resident memory (measured:
// 52.6 MB against 42.6 MB for bare Node) for four values that are each one small file on Linux, the only system
// a device runs. Values go into reports in buckets (bucketKey), so a CPU wobbling between 31% and 34% is not news
// worth a report over a metered link.
import { execFile } from 'node:child_process';
import { readFile, statfs } from 'node:fs/promises';
import { uptime } from 'node:os';
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

/** Where the kernel keeps the counters a sample reads (a test points them at files of its own). */
export interface KernelFiles {
  stat: string;
  meminfo: string;
  /** Millidegrees Celsius; on a Pi the SoC's sensor. */
  thermal: string;
  throttled: string;
}

export const KERNEL_FILES: KernelFiles = {
  stat: '/proc/stat',
  meminfo: '/proc/meminfo',
  thermal: '/sys/class/thermal/thermal_zone0/temp',
  throttled: PI_THROTTLED_FILE,
};

/** Busy and total jiffies of all CPUs from /proc/stat's first line; idle time counts iowait too. */
export function cpuTimesOf(stat: string): { busy: number; total: number } {
  const fields = /^cpu\s+([\d\s]+)/m.exec(stat)?.[1]?.trim().split(/\s+/).map(Number) ?? [];
  // user nice system idle iowait irq softirq steal (guest time is already inside user and nice).
  const total = fields.slice(0, 8).reduce((sum, n) => sum + n, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** A /proc/meminfo field in bytes; 0 when missing. */
export function meminfoBytes(meminfo: string, field: string): number {
  const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1];
  return kb === undefined ? 0 : Number(kb) * 1024;
}

/** The CPU's busy share between two samples of its counters, in percent (one decimal). */
export function cpuPercentBetween(
  before: { busy: number; total: number },
  now: { busy: number; total: number },
): number {
  const total = now.total - before.total;
  if (total <= 0) return 0;
  return Math.round(((now.busy - before.busy) / total) * 1000) / 10;
}

/** Samples the device; the CPU share is over the time since the previous sample (since boot for the first). */
export class MetricsSampler {
  private cpuBefore = { busy: 0, total: 0 };

  constructor(
    /** The disk reported is the one holding this folder (the supervisor's data dir). */
    private readonly dataDir: string,
    private readonly files: KernelFiles = KERNEL_FILES,
  ) {}

  async sample(): Promise<DeviceMetrics> {
    const [stat, meminfo, temperature, disk, undervoltage] = await Promise.all([
      readFile(this.files.stat, 'utf8'),
      readFile(this.files.meminfo, 'utf8'),
      readFile(this.files.thermal, 'utf8').then(
        (text) => Number.parseInt(text, 10) / 1000,
        () => null,
      ),
      statfs(this.dataDir),
      readUndervoltage(this.files.throttled),
    ]);
    const cpu = cpuTimesOf(stat);
    const cpuPercent = cpuPercentBetween(this.cpuBefore, cpu);
    this.cpuBefore = cpu;
    return {
      cpuPercent,
      // Active leaves out page cache the kernel gives back on demand: what services really hold.
      memoryUsedBytes: meminfoBytes(meminfo, 'Active'),
      memoryTotalBytes: meminfoBytes(meminfo, 'MemTotal'),
      temperatureCelsius: temperature !== null && Number.isFinite(temperature) ? temperature : null,
      // As df counts them: every block not free is used, the root-reserved ones included.
      diskUsedBytes: (disk.blocks - disk.bfree) * disk.bsize,
      diskTotalBytes: disk.blocks * disk.bsize,
      uptimeSeconds: Math.round(uptime()),
      ...(undervoltage === undefined ? {} : { undervoltage }),
    };
  }
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

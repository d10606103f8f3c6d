// Devices' metrics over time (migration 23), from the DeviceMetrics their reports carry (protocol/state-report.ts).
// Two resolutions, both written as a report arrives: raw samples, at most one per device per RAW_SLOT_MS (a
// device that reports faster overwrites its slot, so it cannot grow the table faster than time passes), kept for
// RAW_RETENTION_MS; and 15-minute buckets holding sum, count, min and max, kept for BUCKET_RETENTION_MS. Keeping the
// buckets up to date on write makes compaction a deletion of what aged out, which any instance may run at any time
// (twice is harmless) and which cannot lose a sample to a crash between an aggregate and a delete.
import { Type } from '@sinclair/typebox';
import type { DeviceMetrics } from '../../protocol/state-report.js';
import type { MetricPoint, MetricsResolution } from '../../protocol/device-metrics.js';
import { Nullable, type Database, type Queryable } from './sql/database.js';

/** One raw sample per device per 10 s: 360 an hour at most, whatever the device sends. */
export const RAW_SLOT_MS = 10_000;
export const RAW_RETENTION_MS = 60 * 60 * 1000;
export const BUCKET_MS = 15 * 60 * 1000;
export const BUCKET_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

const RawRow = Type.Object({
  at_ms: Type.Integer(),
  cpu_percent: Type.Number(),
  memory_used: Type.Integer(),
  memory_total: Type.Integer(),
  temperature: Nullable(Type.Number()),
  disk_used: Type.Integer(),
  disk_total: Type.Integer(),
});

const BucketRow = Type.Object({
  bucket_ms: Type.Integer(),
  samples: Type.Integer(),
  cpu_sum: Type.Number(),
  cpu_min: Type.Number(),
  cpu_max: Type.Number(),
  memory_sum: Type.Number(),
  memory_min: Type.Integer(),
  memory_max: Type.Integer(),
  memory_total: Type.Integer(),
  temperature_samples: Type.Integer(),
  temperature_sum: Type.Number(),
  temperature_min: Nullable(Type.Number()),
  temperature_max: Nullable(Type.Number()),
  disk_sum: Type.Number(),
  disk_min: Type.Integer(),
  disk_max: Type.Integer(),
  disk_total: Type.Integer(),
});

/** A finite number for a column: a device's NaN or Infinity (JSON cannot carry them, but be sure) becomes 0. */
function finite(value: number): number {
  return Number.isFinite(value) ? value : 0;
}

/**
 * Records the metrics of a report received at `atMs`, inside the report's transaction. The time is the API's
 * (when it received them), never the device's clock, so a device cannot write into the past or the future.
 */
export async function recordMetrics(tx: Queryable, uuid: string, metrics: DeviceMetrics, atMs: number): Promise<void> {
  const slot = atMs - (atMs % RAW_SLOT_MS);
  const bucket = atMs - (atMs % BUCKET_MS);
  const cpu = finite(metrics.cpuPercent);
  const temperature =
    metrics.temperatureCelsius === null || !Number.isFinite(metrics.temperatureCelsius)
      ? null
      : metrics.temperatureCelsius;
  const sample = {
    uuid,
    slot,
    bucket,
    cpu,
    memoryUsed: metrics.memoryUsedBytes,
    memoryTotal: metrics.memoryTotalBytes,
    temperature,
    temperatureSamples: temperature === null ? 0 : 1,
    temperatureSum: temperature ?? 0,
    diskUsed: metrics.diskUsedBytes,
    diskTotal: metrics.diskTotalBytes,
  };
  // The sums are DOUBLE PRECISION and min/max BIGINT: PostgreSQL wants one type per parameter, so each has its own.
  const sums = { memorySum: sample.memoryUsed, diskSum: sample.diskUsed };
  const previous = await tx.get(
    RawRow,
    `SELECT at_ms, cpu_percent, memory_used, memory_total, temperature, disk_used, disk_total
    FROM device_metrics_raw WHERE uuid = ? AND at_ms = ?`,
    [uuid, slot],
  );
  await tx.run(
    `INSERT INTO device_metrics_raw (uuid, at_ms, cpu_percent, memory_used, memory_total, temperature, disk_used, disk_total)
    VALUES (@uuid, @slot, @cpu, @memoryUsed, @memoryTotal, @temperature, @diskUsed, @diskTotal)
    ON CONFLICT (uuid, at_ms) DO UPDATE SET cpu_percent = excluded.cpu_percent, memory_used = excluded.memory_used,
      memory_total = excluded.memory_total, temperature = excluded.temperature, disk_used = excluded.disk_used,
      disk_total = excluded.disk_total`,
    sample,
  );
  // A sample that replaces another in its slot replaces it in the bucket's sums too (min and max keep both: they
  // were seen), so a bucket's average is the average of the samples kept, however fast the device reported.
  const replaced = previous !== null && previous.at_ms - (previous.at_ms % BUCKET_MS) === bucket;
  await tx.run(
    `INSERT INTO device_metrics_15m (uuid, bucket_ms, samples, cpu_sum, cpu_min, cpu_max, memory_sum, memory_min,
      memory_max, memory_total, temperature_samples, temperature_sum, temperature_min, temperature_max, disk_sum,
      disk_min, disk_max, disk_total)
    VALUES (@uuid, @bucket, 1, @cpu, @cpu, @cpu, @memorySum, @memoryUsed, @memoryUsed, @memoryTotal,
      @temperatureSamples, @temperatureSum, @temperature, @temperature, @diskSum, @diskUsed, @diskUsed, @diskTotal)
    ON CONFLICT (uuid, bucket_ms) DO UPDATE SET
      samples = device_metrics_15m.samples + @addSample,
      cpu_sum = device_metrics_15m.cpu_sum + excluded.cpu_sum - @oldCpu,
      cpu_min = CASE WHEN excluded.cpu_min < device_metrics_15m.cpu_min THEN excluded.cpu_min ELSE device_metrics_15m.cpu_min END,
      cpu_max = CASE WHEN excluded.cpu_max > device_metrics_15m.cpu_max THEN excluded.cpu_max ELSE device_metrics_15m.cpu_max END,
      memory_sum = device_metrics_15m.memory_sum + excluded.memory_sum - @oldMemory,
      memory_min = CASE WHEN excluded.memory_min < device_metrics_15m.memory_min THEN excluded.memory_min ELSE device_metrics_15m.memory_min END,
      memory_max = CASE WHEN excluded.memory_max > device_metrics_15m.memory_max THEN excluded.memory_max ELSE device_metrics_15m.memory_max END,
      memory_total = excluded.memory_total,
      temperature_samples = device_metrics_15m.temperature_samples + excluded.temperature_samples - @oldTemperatureSamples,
      temperature_sum = device_metrics_15m.temperature_sum + excluded.temperature_sum - @oldTemperature,
      temperature_min = CASE WHEN device_metrics_15m.temperature_min IS NULL OR excluded.temperature_min < device_metrics_15m.temperature_min
        THEN COALESCE(excluded.temperature_min, device_metrics_15m.temperature_min) ELSE device_metrics_15m.temperature_min END,
      temperature_max = CASE WHEN device_metrics_15m.temperature_max IS NULL OR excluded.temperature_max > device_metrics_15m.temperature_max
        THEN COALESCE(excluded.temperature_max, device_metrics_15m.temperature_max) ELSE device_metrics_15m.temperature_max END,
      disk_sum = device_metrics_15m.disk_sum + excluded.disk_sum - @oldDisk,
      disk_min = CASE WHEN excluded.disk_min < device_metrics_15m.disk_min THEN excluded.disk_min ELSE device_metrics_15m.disk_min END,
      disk_max = CASE WHEN excluded.disk_max > device_metrics_15m.disk_max THEN excluded.disk_max ELSE device_metrics_15m.disk_max END,
      disk_total = excluded.disk_total`,
    {
      ...sample,
      ...sums,
      addSample: replaced ? 0 : 1,
      oldCpu: replaced ? previous.cpu_percent : 0,
      oldMemory: replaced ? previous.memory_used : 0,
      oldTemperatureSamples: replaced && previous.temperature !== null ? 1 : 0,
      oldTemperature: replaced ? (previous.temperature ?? 0) : 0,
      oldDisk: replaced ? previous.disk_used : 0,
    },
  );
}

export interface MetricsRange {
  fromMs: number;
  toMs: number;
}

export interface MetricsSeries {
  resolution: MetricsResolution;
  points: MetricPoint[];
}

export interface CompactionResult {
  rawDeleted: number;
  bucketsDeleted: number;
}

export interface MetricsStore {
  /**
   * The device's points in [fromMs, toMs): raw samples when the whole range is within the raw retention at `nowMs`,
   * else 15-minute buckets (a bucket is in the range when it starts in it). Oldest first, at most `limit`.
   */
  series(uuid: string, range: MetricsRange, nowMs: number, limit: number): Promise<MetricsSeries>;
  /** Deletes raw samples and buckets older than their retention at `nowMs`. */
  compact(nowMs: number): Promise<CompactionResult>;
}

function stat(value: number): { avg: number; min: number; max: number } {
  return { avg: value, min: value, max: value };
}

export function metricsOn(db: Database): MetricsStore {
  return {
    async series(uuid, range, nowMs, limit) {
      if (range.fromMs >= nowMs - RAW_RETENTION_MS) {
        const rows = await db.all(
          RawRow,
          `SELECT at_ms, cpu_percent, memory_used, memory_total, temperature, disk_used, disk_total
          FROM device_metrics_raw WHERE uuid = ? AND at_ms >= ? AND at_ms < ? ORDER BY at_ms LIMIT ?`,
          [uuid, range.fromMs, range.toMs, limit],
        );
        return {
          resolution: 'raw',
          points: rows.map((r) => ({
            at: new Date(r.at_ms).toISOString(),
            samples: 1,
            cpuPercent: stat(r.cpu_percent),
            memoryUsedBytes: stat(r.memory_used),
            memoryTotalBytes: r.memory_total,
            temperatureCelsius: r.temperature === null ? null : stat(r.temperature),
            diskUsedBytes: stat(r.disk_used),
            diskTotalBytes: r.disk_total,
          })),
        };
      }
      const rows = await db.all(
        BucketRow,
        `SELECT bucket_ms, samples, cpu_sum, cpu_min, cpu_max, memory_sum, memory_min, memory_max, memory_total,
          temperature_samples, temperature_sum, temperature_min, temperature_max, disk_sum, disk_min, disk_max, disk_total
        FROM device_metrics_15m WHERE uuid = ? AND bucket_ms >= ? AND bucket_ms < ? ORDER BY bucket_ms LIMIT ?`,
        [uuid, range.fromMs - (range.fromMs % BUCKET_MS), range.toMs, limit],
      );
      return {
        resolution: '15m',
        points: rows.map((r) => {
          const n = Math.max(1, r.samples);
          return {
            at: new Date(r.bucket_ms).toISOString(),
            samples: r.samples,
            cpuPercent: { avg: r.cpu_sum / n, min: r.cpu_min, max: r.cpu_max },
            memoryUsedBytes: { avg: Math.round(r.memory_sum / n), min: r.memory_min, max: r.memory_max },
            memoryTotalBytes: r.memory_total,
            temperatureCelsius:
              r.temperature_samples === 0 || r.temperature_min === null || r.temperature_max === null
                ? null
                : {
                    avg: r.temperature_sum / r.temperature_samples,
                    min: r.temperature_min,
                    max: r.temperature_max,
                  },
            diskUsedBytes: { avg: Math.round(r.disk_sum / n), min: r.disk_min, max: r.disk_max },
            diskTotalBytes: r.disk_total,
          };
        }),
      };
    },
    async compact(nowMs) {
      const raw = await db.run('DELETE FROM device_metrics_raw WHERE at_ms < ?', [nowMs - RAW_RETENTION_MS]);
      const buckets = await db.run('DELETE FROM device_metrics_15m WHERE bucket_ms < ?', [nowMs - BUCKET_RETENTION_MS]);
      return { rawDeleted: raw.changes, bucketsDeleted: buckets.changes };
    },
  };
}

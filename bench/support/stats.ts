// Small numeric helpers for bench figures: medians of repeated runs and ratios rounded for reading.

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? 0;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? upper) + upper) / 2;
}

export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export function ratio(value: number, baseline: number): number {
  if (baseline <= 0) throw new Error(`ratio against a baseline of ${baseline}`);
  return round(value / baseline, 3);
}

export function mb(bytes: number): number {
  return round(bytes / (1024 * 1024), 1);
}

/** Milliseconds since `started` (a performance.now() value), to 0.1 ms. */
export function elapsedMs(started: number): number {
  return round(performance.now() - started, 1);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

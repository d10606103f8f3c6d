// Container log lines as the wire carries them (protocol/device-logs.ts): cut to a bounded length, stamped with
// service and container, and cut into batches of bounded count and size. Pure, so the bounds are tested alone.
import {
  MAX_BATCH_BYTES,
  MAX_BATCH_LINES,
  MAX_LOG_LINE_CHARS,
  timestampNanos,
  type DeviceLogLine,
  type LogBatch,
} from '../../protocol/device-logs.js';
import type { ContainerLogLine } from '../engine/create-options.js';

/** JSON around the lines of a batch (snapshot marker, services list), generously. */
const BATCH_OVERHEAD_BYTES = 16 * 1024;

export interface BatchLimits {
  lines: number;
  bytes: number;
}

export const WIRE_LIMITS: BatchLimits = { lines: MAX_BATCH_LINES, bytes: MAX_BATCH_BYTES };

/** `text` in at most `max` code points, never splitting a surrogate pair. */
function cut(text: string, max: number): string {
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return text.slice(0, end);
}

/** The engine's line for the wire; null for a line without a timestamp the wire can carry (a TTY's torn line). */
export function wireLine(service: string, containerId: string, line: ContainerLogLine): DeviceLogLine | null {
  if (timestampNanos(line.timestamp) < 0n) return null;
  const base = { service, containerId, timestamp: line.timestamp, stream: line.stream };
  // UTF-16 units are never fewer than code points: a short string needs no closer look.
  if (line.text.length <= MAX_LOG_LINE_CHARS) return { ...base, text: line.text };
  return { ...base, text: cut(line.text, MAX_LOG_LINE_CHARS), truncated: true };
}

/** `lines` in runs of at most `limits.lines` lines and about `limits.bytes` bytes of JSON each, in order. */
export function chunk(lines: readonly DeviceLogLine[], limits: BatchLimits = WIRE_LIMITS): DeviceLogLine[][] {
  const chunks: DeviceLogLine[][] = [];
  let current: DeviceLogLine[] = [];
  let bytes = BATCH_OVERHEAD_BYTES;
  for (const line of lines) {
    const size = Buffer.byteLength(JSON.stringify(line)) + 1;
    if (current.length > 0 && (current.length >= limits.lines || bytes + size > limits.bytes)) {
      chunks.push(current);
      current = [];
      bytes = BATCH_OVERHEAD_BYTES;
    }
    current.push(line);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** The answer to a snapshot request: at least one batch, the last marked final. */
export function snapshotBatches(
  request: string,
  services: string[],
  lines: readonly DeviceLogLine[],
  limits: BatchLimits = WIRE_LIMITS,
): LogBatch[] {
  const chunks = chunk(lines, limits);
  if (chunks.length === 0) chunks.push([]);
  return chunks.map((part, i) => ({ lines: part, snapshot: { request, final: i === chunks.length - 1, services } }));
}

/** Followed lines; none at all when there is nothing to say. */
export function followBatches(
  lines: readonly DeviceLogLine[],
  dropped: number,
  limits: BatchLimits = WIRE_LIMITS,
): LogBatch[] {
  const batches: LogBatch[] = chunk(lines, limits).map((part) => ({ lines: part }));
  if (dropped > 0) {
    if (batches.length === 0) batches.push({ lines: [] });
    batches[0]!.dropped = dropped;
  }
  return batches;
}

// How `skiff logs` shows lines: `SERVICE | text`, the service column as wide as the widest name, like
// `docker compose logs`; optionally the engine's timestamp in front of the text.
import type { DeviceLogLine } from '../../protocol/device-logs.js';

export interface LogViewOptions {
  /** Width of the service column. */
  width: number;
  timestamps: boolean;
}

export function serviceWidth(services: readonly string[]): number {
  return Math.max(0, ...services.map((s) => s.length));
}

/** One output line per log line, each ending in a newline. */
export function formatLines(lines: readonly DeviceLogLine[], options: LogViewOptions): string {
  return lines
    .map((line) => {
      const text = `${line.text}${line.truncated ? ' [truncated]' : ''}`;
      return `${line.service.padEnd(options.width)} | ${options.timestamps ? `${line.timestamp} ` : ''}${text}\n`;
    })
    .join('');
}

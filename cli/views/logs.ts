// How `skiff logs` shows lines: `SERVICE | text`, the service column as wide as the widest name, like
// `docker compose logs`; optionally the engine's timestamp in front of the text.
import type { DeviceLogLine } from '../../protocol/device-logs.js';
import { printable } from './output.js';

export interface LogViewOptions {
  /** Width of the service column. */
  width: number;
  timestamps: boolean;
}

export function serviceWidth(services: readonly string[]): number {
  return Math.max(0, ...services.map((s) => printable(s).length));
}

/**
 * One output line per log line, each ending in a newline. Lines come from the device's containers: their control
 * characters are shown escaped (tabs kept), so a line can neither drive the terminal nor pose as several lines.
 */
export function formatLines(lines: readonly DeviceLogLine[], options: LogViewOptions): string {
  return lines
    .map((line) => {
      const text = `${printable(line.text, '\t')}${line.truncated ? ' [truncated]' : ''}`;
      const timestamp = options.timestamps ? `${printable(line.timestamp)} ` : '';
      return `${printable(line.service).padEnd(options.width)} | ${timestamp}${text}\n`;
    })
    .join('');
}

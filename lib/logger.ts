// The one structured logger every Skiff process uses, on stderr so stdout stays free for command output (the CLI's
// tables, the bench's JSON line). One line of JSON per record for machines (journald, log shippers, pipes); on a
// terminal the same records as readable lines (local time, level, message, then the same field names), because a
// person reading `make demo`'s output should not decode epoch milliseconds. SKIFF_LOG_FORMAT=json|pretty overrides.
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';

// pino-pretty is required when a process logs for a person only: a device logs JSON, and loading the prettifier's
// modules would cost it memory for nothing.
const requireHere = createRequire(import.meta.url);

export type { Logger };

export type LogFormat = 'json' | 'pretty';

/** The format for a process whose stderr is (or is not) a terminal, given SKIFF_LOG_FORMAT. */
export function logFormat(setting: string | undefined, stderrIsTerminal: boolean): LogFormat {
  const wanted = setting?.trim().toLowerCase();
  if (wanted === undefined || wanted === '') return stderrIsTerminal ? 'pretty' : 'json';
  if (wanted === 'json' || wanted === 'pretty') return wanted;
  throw new Error(
    `SKIFF_LOG_FORMAT is '${setting?.slice(0, 40)}': it must be 'json' or 'pretty' (or unset: pretty on a terminal)`,
  );
}

/**
 * Where records go: JSON lines (written asynchronously unless `syncJson`, pino's default for speed), or through a
 * synchronous pretty printer (no worker thread: a terminal reader is not a throughput concern).
 */
export function logDestination(format: LogFormat, fd = 2, colorize = false, syncJson = false): DestinationStream {
  if (format === 'json') return pino.destination({ dest: fd, sync: syncJson });
  const { PinoPretty } = requireHere('pino-pretty') as typeof import('pino-pretty');
  return PinoPretty({
    destination: fd,
    sync: true,
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true,
  });
}

export function createLogger(name: string, bindings: Record<string, unknown> = {}): Logger {
  const format = logFormat(process.env.SKIFF_LOG_FORMAT, process.stderr.isTTY === true);
  return pino(
    { name, level: process.env.SKIFF_LOG_LEVEL ?? 'info', base: { pid: process.pid, ...bindings } },
    logDestination(format, 2, format === 'pretty' && process.stderr.isTTY === true),
  );
}

// The one structured logger every Skiff process uses: JSON lines on stderr, so stdout stays free for
// command output (the CLI's tables, the bench's JSON line).
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    { name, level: process.env.SKIFF_LOG_LEVEL ?? 'info', base: { pid: process.pid, ...bindings } },
    pino.destination(2),
  );
}

// The supervisor as a process, started by main.ts: options from the command line and the environment, signals.
// SIGTERM/SIGINT end the loops but leave every container running: the device keeps working without us.
import { parseArgs } from 'node:util';
import { createLogger } from '../lib/logger.js';
import { messageOf } from '../lib/errors.js';
import { Supervisor } from './supervisor.js';
import { insecureRegistriesOf } from './config.js';

/** How long a step in flight (a pull, a stop) may delay shutdown; the next start re-plans anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

function envMs(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 1)
    throw new Error(`${name} must be a positive integer (milliseconds), got '${raw}'`);
  return ms;
}

async function main(): Promise<void> {
  const log = createLogger('supervisor');
  const { values } = parseArgs({ options: { 'data-dir': { type: 'string' } } });
  const dataDir = values['data-dir'] ?? process.env.SKIFF_DATA_DIR;
  if (dataDir === undefined) throw new Error('usage: main.js --data-dir DIR (or SKIFF_DATA_DIR)');

  const supervisor = await Supervisor.create({
    dataDir,
    log,
    pollIntervalMs: envMs('SKIFF_POLL_INTERVAL_MS'),
    reportIntervalMs: envMs('SKIFF_REPORT_INTERVAL_MS'),
    metricsIntervalMs: envMs('SKIFF_METRICS_INTERVAL_MS'),
    resyncIntervalMs: envMs('SKIFF_RESYNC_INTERVAL_MS'),
    appWatchIntervalMs: envMs('SKIFF_APP_WATCH_INTERVAL_MS'),
    insecureRegistries: insecureRegistriesOf(process.env),
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping; containers keep running');
    const grace = setTimeout(() => {
      log.warn({ graceMs: SHUTDOWN_GRACE_MS }, 'step still in flight at shutdown; exiting anyway');
      process.exit(0);
    }, SHUTDOWN_GRACE_MS);
    grace.unref();
    supervisor.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: messageOf(err) }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await supervisor.start();
  log.info({ dataDir }, 'supervisor started');
}

/** Starts the supervisor; a failure to start is logged and ends the process. */
export function runDaemon(): void {
  main().catch((err: unknown) => {
    createLogger('supervisor').fatal({ err: messageOf(err) }, 'supervisor failed to start');
    process.exit(1);
  });
}

// @ts-check
// The meter reader: P1 bytes in, checked telegrams parsed into readings, readings out to the endpoint (or to
// the log when no endpoint is set). SIGTERM stops it within a second or two with nothing unconfirmed lost.
import fs from 'node:fs';
import { MeterSerialAnnouncer } from './announce.mjs';
import { readConfig } from './config.mjs';
import { TelegramFramer, checkFrame, parseTelegram, toReading } from './dsmr.mjs';
import { TelegramHealth } from './health.mjs';
import { createLog, messageOf } from './log.mjs';
import { createPoster } from './poster.mjs';
import { ReadingBuffer } from './buffer.mjs';
import { RemoteLogSink } from './remote-log.mjs';
import { Shipper } from './shipper.mjs';
import { openSource } from './source.mjs';

/** How long shutdown may take before the process exits anyway; docker stop waits 10 s by default. */
const SHUTDOWN_BUDGET_MS = 2000;
/** Timer jitter must not make a telegram that is on time look early. */
const PUBLISH_SLACK_MS = 250;

async function main() {
  let config;
  try {
    config = readConfig(process.env);
  } catch (err) {
    createLog('meter-reader').error('cannot start', { error: messageOf(err) });
    process.exit(2);
  }
  const sink = config.logTarget ? new RemoteLogSink({ ...config.logTarget, tag: 'meter-reader' }) : null;
  const log = createLog('meter-reader', { level: config.logLevel, sink });
  const stopping = new AbortController();
  const shipper = config.endpoint
    ? new Shipper({
        post: createPoster(config.endpoint),
        buffer: new ReadingBuffer({ ...config.buffer, log }),
        log,
        retryMaxMs: config.retryMaxMs,
      })
    : null;
  const stats = { telegrams: 0, rejected: 0, published: 0 };
  // The supervisor's directory for this service: only under Skiff, and only there is health judged.
  const health = process.env.SKIFF_LOCK_DIR ? new TelegramHealth(process.env.SKIFF_LOCK_DIR) : null;

  /** @param {string} why */
  const shutdown = async (why) => {
    if (stopping.signal.aborted) return;
    stopping.abort();
    log.info('stopping', { why });
    const deadline = setTimeout(() => {
      log.warn('shutdown took too long; exiting anyway');
      process.exit(1);
    }, SHUTDOWN_BUDGET_MS);
    await shipper?.stop();
    log.info('stopped', { ...stats, buffered: shipper?.buffered ?? 0 });
    await sink?.close();
    clearTimeout(deadline);
    process.exit(0);
  };
  // As PID 1 in a container, Node gets no default signal handling: without these, docker stop waits and kills.
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  log.info('starting', {
    source: config.source.kind === 'device' ? config.source.device : 'simulated',
    endpoint: config.endpoint?.url ?? null,
    buffered: shipper?.buffered ?? 0,
  });
  const framer = new TelegramFramer();
  const announcer = new MeterSerialAnnouncer({ dir: process.env.SKIFF_LOCK_DIR, log });
  let lastPublished = -Infinity;
  for await (const chunk of openSource(config.source, { log, signal: stopping.signal })) {
    for (const event of framer.push(chunk)) {
      const checked =
        event.kind === 'frame'
          ? checkFrame(event.raw)
          : /** @type {const} */ ({ ok: false, reason: `truncated: ${event.reason}` });
      if (!checked.ok) {
        stats.rejected += 1;
        health?.record(false);
        log.warn('telegram rejected', { reason: checked.reason, rejected: stats.rejected });
        continue;
      }
      stats.telegrams += 1;
      health?.record(true);
      beat(config.heartbeatFile);
      // Every good telegram names its meter; the supervisor hears of it only when that changes.
      const parsed = toReading(parseTelegram(checked.text));
      announcer.announce(parsed.meterId);
      const now = Date.now();
      if (now - lastPublished + PUBLISH_SLACK_MS < config.publishIntervalMs) continue;
      lastPublished = now;
      const reading = { receivedAt: new Date(now).toISOString(), ...parsed };
      stats.published += 1;
      if (shipper) {
        log.debug('reading', { reading });
        shipper.submit(reading);
      } else {
        log.info('reading', { reading });
      }
    }
  }
  await shutdown('meter source ended');
}

/**
 * Marks "a good telegram just arrived" for the container healthcheck. /dev/shm is memory: no SD card wear.
 * @param {string} file
 */
function beat(file) {
  try {
    fs.writeFileSync(file, `${Date.now()}\n`);
  } catch {
    // No heartbeat only makes the healthcheck report unhealthy; reading goes on.
  }
}

main().catch((err) => {
  createLog('meter-reader').error('crashed', {
    error: messageOf(err),
    stack: err instanceof Error ? err.stack : undefined,
  });
  process.exit(1);
});

// @ts-check
// Where telegram bytes come from: the P1 port (a serial device, e.g. a USB P1 cable at /dev/ttyUSB0) or a
// simulated meter. Both are async streams of byte chunks, ended by the abort signal.
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { addAbortSignal } from 'node:stream';
import { pause } from './abortable.mjs';
import { messageOf } from './log.mjs';
import { SimulatedMeter } from './simulator.mjs';

/** @typedef {import('./config.mjs').Config['source']} SourceConfig */
/** @typedef {import('./config.mjs').SerialSettings} SerialSettings */
/** @typedef {import('./log.mjs').Log} Log */

/**
 * @param {SourceConfig} source
 * @param {{ log: Log, signal: AbortSignal }} ctx
 * @returns {AsyncGenerator<Buffer>}
 */
export function openSource(source, ctx) {
  if (source.kind === 'device') return deviceChunks({ ...source, ...ctx });
  // A sped-up meter clock shows a day of counters and tariff switches in minutes.
  const start = Date.now();
  const now = () => new Date(start + (Date.now() - start) * source.speed);
  return simulatedChunks({ ...source, now, signal: ctx.signal });
}

/**
 * A simulated meter's telegrams, the first at once and then one per interval. Each telegram is handed over in
 * two pieces, as serial reads arrive, and every `corruptEvery`th has one digit changed after its CRC was
 * computed, as line noise would (0: never).
 * @param {{ intervalMs: number, corruptEvery: number, signal: AbortSignal, meter?: SimulatedMeter,
 *   now?: () => Date }} options
 * @returns {AsyncGenerator<Buffer>}
 */
export async function* simulatedChunks(options) {
  const meter = options.meter ?? new SimulatedMeter();
  const now = options.now ?? (() => new Date());
  for (let n = 1; !options.signal.aborted; n++) {
    let text = meter.telegram(now());
    if (options.corruptEvery > 0 && n % options.corruptEvery === 0) text = flipDigit(text);
    const bytes = Buffer.from(text, 'latin1');
    const cut = Math.floor(bytes.length / 2);
    yield bytes.subarray(0, cut);
    yield bytes.subarray(cut);
    if (!(await pause(options.intervalMs, options.signal))) return;
  }
}

/** @param {string} text */
function flipDigit(text) {
  const at = text.indexOf('*kWh)') - 1;
  if (at < 0) return text;
  return `${text.slice(0, at)}${text[at] === '0' ? '1' : '0'}${text.slice(at + 1)}`;
}

/**
 * Reads the P1 device for as long as it delivers, reopening it with backoff when it fails or goes away
 * (a USB cable pulled and plugged back).
 * @param {{ device: string, serial: SerialSettings, log: Log, signal: AbortSignal }} options
 * @returns {AsyncGenerator<Buffer>}
 */
export async function* deviceChunks({ device, serial, log, signal }) {
  let retryMs = 1000;
  while (!signal.aborted) {
    try {
      configureSerial(device, serial, log);
      const stream = addAbortSignal(signal, fs.createReadStream(device, { highWaterMark: 4096 }));
      log.info('reading meter', { device });
      for await (const chunk of stream) {
        retryMs = 1000;
        yield /** @type {Buffer} */ (chunk);
      }
      log.warn('meter device closed', { device, retryInSeconds: retryMs / 1000 });
    } catch (err) {
      if (signal.aborted) return;
      log.warn('cannot read meter device', { device, error: messageOf(err), retryInSeconds: retryMs / 1000 });
    }
    if (!(await pause(retryMs, signal))) return;
    retryMs = Math.min(retryMs * 2, 30_000);
  }
}

/**
 * Sets line speed and framing with stty: Node has no serial API of its own. Only for character devices, so a
 * FIFO or file can stand in for the port.
 * @param {string} device
 * @param {SerialSettings} serial
 * @param {Log} log
 */
function configureSerial(device, serial, log) {
  if (!fs.statSync(device).isCharacterDevice()) return;
  const parity = serial.parity === 'none' ? ['-parenb'] : ['parenb', serial.parity === 'odd' ? 'parodd' : '-parodd'];
  const args = ['-F', device, String(serial.baud), `cs${serial.dataBits}`, ...parity,
    serial.stopBits === 2 ? 'cstopb' : '-cstopb', 'raw', '-echo', 'clocal', 'cread'];
  const result = spawnSync('stty', args, { encoding: 'utf8', timeout: 5000 });
  if (result.error || result.status !== 0) {
    log.warn('cannot set serial line settings; reading with the current ones', {
      device, command: `stty ${args.join(' ')}`, error: result.error?.message ?? result.stderr.trim(),
    });
  }
}

// @ts-check
// Where telegram bytes come from: the P1 port (a serial device, e.g. a USB P1 cable at /dev/ttyUSB0) or a
// simulated meter. Both are async streams of byte chunks, ended by the abort signal.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { addAbortSignal } from 'node:stream';
import tty from 'node:tty';
import { promisify } from 'node:util';
import { pause } from './abortable.mjs';
import { messageOf } from './log.mjs';
import { SimulatedMeter } from './simulator.mjs';

const run = promisify(execFile);

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
      await configureSerial(device, serial, log, signal);
      const stream = addAbortSignal(signal, openDevice(device));
      log.info('reading meter', { device });
      for await (const chunk of stream) {
        retryMs = 1000;
        yield/** @type {Buffer} */ (chunk);
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
 * Opens the device so that reading it never blocks a libuv worker thread. Node joins its worker threads on
 * exit, so a read blocked on a quiet serial line would hold SIGTERM up until the next telegram, or for ever
 * with the cable pulled. A tty (the USB P1 cable) and a FIFO are read through the event loop instead.
 * @param {string} device
 * @returns {import('node:stream').Readable}
 */
function openDevice(device) {
  const { O_RDONLY, O_RDWR, O_NONBLOCK, O_NOCTTY } = fs.constants;
  // A FIFO opened read-write has a writer as long as it is open: no end-of-file between two writers.
  const fifo = fs.statSync(device).isFIFO();
  const fd = fs.openSync(device, (fifo ? O_RDWR : O_RDONLY) | O_NONBLOCK | O_NOCTTY);
  try {
    if (tty.isatty(fd)) return new tty.ReadStream(fd);
    if (fifo) return new net.Socket({ fd, readable: true, writable: false });
    return fs.createReadStream(device, { fd, highWaterMark: 4096 });
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/**
 * Sets line speed and framing with stty: Node has no serial API of its own. Only for character devices, so a
 * FIFO or file can stand in for the port.
 * @param {string} device
 * @param {SerialSettings} serial
 * @param {Log} log
 * @param {AbortSignal} signal
 */
async function configureSerial(device, serial, log, signal) {
  if (!fs.statSync(device).isCharacterDevice()) return;
  const parity = serial.parity === 'none' ? ['-parenb'] : ['parenb', serial.parity === 'odd' ? 'parodd' : '-parodd'];
  const args = [
    '-F',
    device,
    String(serial.baud),
    `cs${serial.dataBits}`,
    ...parity,
    serial.stopBits === 2 ? 'cstopb' : '-cstopb',
    'raw',
    '-echo',
    'clocal',
    'cread',
  ];
  try {
    await run('stty', args, { timeout: 5000, signal });
  } catch (err) {
    if (signal.aborted) throw err;
    log.warn('cannot set serial line settings; reading with the current ones', {
      device,
      command: `stty ${args.join(' ')}`,
      error: messageOf(err),
    });
  }
}

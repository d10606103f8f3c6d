// @ts-check
// DSMR P1 telegrams: framing a byte stream into telegrams, the CRC that guards them, parsing their OBIS lines
// into a reading, and encoding (for the simulated meter). DSMR 4 and 5 (NL) and eMUCs/Fluvius (BE) share this
// format; DSMR 2.2/3 telegrams carry no CRC and are refused, since nothing would tell a torn read from a reading.

const SLASH = 0x2f;
const BANG = 0x21;
const LF = 0x0a;

/**
 * CRC-16/ARC (poly 0x8005 reflected = 0xA001, init 0, no final xor), as DSMR 4+ computes over every byte from the
 * leading '/' through the '!'.
 * @param {Uint8Array} bytes
 * @returns {number}
 */
export function crc16(bytes) {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** @param {number} crc */
function crcHex(crc) {
  return crc.toString(16).toUpperCase().padStart(4, '0');
}

/**
 * @typedef {{ kind: 'frame', raw: Buffer } | { kind: 'truncated', raw: Buffer, reason: string }} FramerEvent
 * A frame runs from '/' through the end of the CRC line; a truncated one was cut off before its '!'.
 */

/**
 * Reassembles telegrams from reads of any size. Bytes before the first '/' (joining mid-telegram) are skipped;
 * a '/' at the start of a line before the '!' means the previous telegram lost bytes, and it is reported
 * truncated rather than glued to the next one.
 */
export class TelegramFramer {
  /** @type {Buffer} */
  #pending = Buffer.alloc(0);
  #maxBytes;

  /** @param {{ maxBytes?: number }} [options] the longest telegram accepted (DSMR 5 allows ~1 KiB of text messages) */
  constructor(options = {}) {
    this.#maxBytes = options.maxBytes ?? 16 * 1024;
  }

  /**
   * @param {Uint8Array} chunk
   * @returns {FramerEvent[]}
   */
  push(chunk) {
    /** @type {FramerEvent[]} */
    const events = [];
    let buf = this.#pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#pending, chunk]);
    for (;;) {
      const start = buf.indexOf(SLASH);
      if (start < 0) {
        buf = Buffer.alloc(0);
        break;
      }
      buf = buf.subarray(start);
      const bang = buf.indexOf(BANG, 1);
      const restart = indexOfLineStartSlash(buf, bang < 0 ? buf.length : bang);
      if (restart > 0) {
        events.push({
          kind: 'truncated',
          raw: buf.subarray(0, restart),
          reason: 'a new telegram started before its end',
        });
        buf = buf.subarray(restart);
        continue;
      }
      if (bang < 0) {
        if (buf.length > this.#maxBytes) {
          events.push({ kind: 'truncated', raw: buf, reason: `no end within ${this.#maxBytes} bytes` });
          buf = Buffer.alloc(0);
        }
        break;
      }
      const eol = buf.indexOf(LF, bang);
      if (eol < 0) break;
      events.push({ kind: 'frame', raw: buf.subarray(0, eol + 1) });
      buf = buf.subarray(eol + 1);
    }
    // Copy so the retained tail does not pin the whole concatenated read in memory.
    this.#pending = Buffer.from(buf);
    return events;
  }
}

/**
 * @param {Buffer} buf
 * @param {number} end
 */
function indexOfLineStartSlash(buf, end) {
  for (let i = buf.indexOf(LF); i >= 0 && i + 1 < end; i = buf.indexOf(LF, i + 1)) {
    if (buf[i + 1] === SLASH) return i + 1;
  }
  return -1;
}

/**
 * Checks a frame's CRC and returns its text from '/' through '!'.
 * @param {Uint8Array} raw
 * @returns {{ ok: true, text: string } | { ok: false, reason: string }}
 */
export function checkFrame(raw) {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const bang = buf.lastIndexOf(BANG);
  if (buf[0] !== SLASH || bang < 0) return { ok: false, reason: 'not a telegram (no / ... ! frame)' };
  const stated = buf
    .subarray(bang + 1)
    .toString('latin1')
    .trim();
  if (stated === '') return { ok: false, reason: 'telegram has no CRC (DSMR before 4.0 is not supported)' };
  if (!/^[0-9A-Fa-f]{4}$/.test(stated)) return { ok: false, reason: `malformed CRC '${stated.slice(0, 16)}'` };
  const body = buf.subarray(0, bang + 1);
  const computed = crcHex(crc16(body));
  if (computed !== stated.toUpperCase()) {
    return { ok: false, reason: `CRC mismatch: telegram says ${stated.toUpperCase()}, bytes give ${computed}` };
  }
  return { ok: true, text: body.toString('latin1') };
}

/**
 * @typedef {{ header: string, objects: Map<string, string[]> }} Telegram
 * objects maps an OBIS reference (e.g. 1-0:1.8.1) to its parenthesised values, in order.
 */

const OBJECT_LINE = /^(\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3})((?:\([^()]*\))+)$/;

/**
 * @param {string} text a checked telegram, '/' through '!'
 * @returns {Telegram}
 */
export function parseTelegram(text) {
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').slice(1).trim();
  /** @type {Map<string, string[]>} */
  const objects = new Map();
  for (const line of lines.slice(1)) {
    const m = OBJECT_LINE.exec(line.trim());
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    objects.set(m[1], m[2].slice(1, -1).split(')('));
  }
  return { header, objects };
}

/**
 * @typedef {{
 *   meterId: string | null,
 *   timestamp: string | null,
 *   tariff: number | null,
 *   deliveredTariff1Kwh: number | null,
 *   deliveredTariff2Kwh: number | null,
 *   returnedTariff1Kwh: number | null,
 *   returnedTariff2Kwh: number | null,
 *   powerDeliveredKw: number | null,
 *   powerReturnedKw: number | null,
 *   gas: { m3: number, timestamp: string | null } | null,
 * }} Reading
 * Energy in kWh and power in kW whatever unit the meter used (some send Wh and W); null where the meter
 * sent nothing. Timestamps are ISO 8601 with the meter's UTC offset.
 */

/**
 * @param {Telegram} telegram
 * @returns {Reading}
 */
export function toReading(telegram) {
  const first = (/** @type {string} */ obis) => telegram.objects.get(obis)?.[0];
  const tariff = first('0-0:96.14.0');
  return {
    meterId: decodeId(first('0-0:96.1.1') ?? first('0-0:96.1.4')),
    timestamp: parseTimestamp(first('0-0:1.0.0')),
    tariff: tariff === undefined || !/^\d+$/.test(tariff) ? null : Number(tariff),
    deliveredTariff1Kwh: quantity(first('1-0:1.8.1'), 'kWh'),
    deliveredTariff2Kwh: quantity(first('1-0:1.8.2'), 'kWh'),
    returnedTariff1Kwh: quantity(first('1-0:2.8.1'), 'kWh'),
    returnedTariff2Kwh: quantity(first('1-0:2.8.2'), 'kWh'),
    powerDeliveredKw: quantity(first('1-0:1.7.0'), 'kW'),
    powerReturnedKw: quantity(first('1-0:2.7.0'), 'kW'),
    gas: gasOf(telegram),
  };
}

/** @type {Record<string, Record<string, number>>} */
const TO_UNIT = { kWh: { kWh: 1, Wh: 0.001 }, kW: { kW: 1, W: 0.001 }, m3: { m3: 1 } };

/**
 * '001234.567*kWh' in the wanted unit; null when absent, unitless or in an unknown unit.
 * @param {string | undefined} value
 * @param {'kWh' | 'kW' | 'm3'} unit
 */
function quantity(value, unit) {
  if (value === undefined) return null;
  const m = /^(-?\d+(?:\.\d+)?)\*(\w+)$/.exec(value);
  const factor = m?.[2] === undefined ? undefined : TO_UNIT[unit]?.[m[2]];
  if (!m || factor === undefined) return null;
  // Round away binary noise from the unit factor; meters resolve to 1 Wh / 1 W / 1 dm3 at best.
  return Math.round(Number(m[1]) * factor * 1e6) / 1e6;
}

/**
 * The gas meter hangs off an M-Bus channel 1..4 whose device type (0-n:24.1.0) is 003; its hourly or 5-minute
 * value is 0-n:24.2.1 (NL) or 0-n:24.2.3 (BE): (timestamp)(value*m3).
 * @param {Telegram} telegram
 * @returns {Reading['gas']}
 */
function gasOf(telegram) {
  const channels = [1, 2, 3, 4];
  const gasChannel = channels.find((n) => Number(telegram.objects.get(`0-${n}:24.1.0`)?.[0]) === 3);
  for (const n of gasChannel === undefined ? channels : [gasChannel]) {
    const values = telegram.objects.get(`0-${n}:24.2.1`) ?? telegram.objects.get(`0-${n}:24.2.3`);
    const m3 = quantity(values?.[1], 'm3');
    if (values && m3 !== null) return { m3, timestamp: parseTimestamp(values[0]) };
  }
  return null;
}

/**
 * YYMMDDhhmmss + W (winter, UTC+1) or S (summer, UTC+2), the Dutch/Belgian meter clock.
 * @param {string | undefined} value
 * @returns {string | null}
 */
export function parseTimestamp(value) {
  const m = value === undefined ? null : /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)([WS])$/.exec(value);
  if (!m) return null;
  const [, yy, mo, dd, hh, mi, ss, season] = m;
  const iso = `20${yy}-${mo}-${dd}T${hh}:${mi}:${ss}${season === 'S' ? '+02:00' : '+01:00'}`;
  return Number.isNaN(Date.parse(iso)) ? null : iso;
}

/**
 * Equipment identifiers are ASCII sent as hex; keep the hex when it does not decode to printable text.
 * @param {string | undefined} value
 */
function decodeId(value) {
  if (value === undefined || value === '') return null;
  if (!/^([0-9A-Fa-f]{2})+$/.test(value)) return value;
  const text = Buffer.from(value, 'hex').toString('latin1');
  return /^[\x20-\x7e]+$/.test(text) ? text : value;
}

/**
 * A complete telegram: header, a blank line, one line per object, '!' and the CRC, CRLF line ends.
 * @param {string} header without the leading '/'
 * @param {string[]} lines OBIS lines such as '1-0:1.8.1(000123.456*kWh)'
 */
export function encodeTelegram(header, lines) {
  const body = `/${header}\r\n\r\n${lines.map((l) => `${l}\r\n`).join('')}!`;
  return `${body}${crcHex(crc16(Buffer.from(body, 'latin1')))}\r\n`;
}

// @ts-check
// A simulated DSMR 5 meter with a gas meter on M-Bus channel 1: counters that only go up, a load that varies
// over the day, tariff 1 (low) at night and at weekends. Lets a fleet run and be tested without a P1 cable.
import { encodeTelegram } from './dsmr.mjs';

const ZONE = 'Europe/Amsterdam';
const CLOCK = new Intl.DateTimeFormat('en-GB', {
  timeZone: ZONE,
  year: '2-digit',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  weekday: 'short',
  hourCycle: 'h23',
  timeZoneName: 'shortOffset',
});

/**
 * The meter's local clock as DSMR writes it (YYMMDDhhmmss + W/S) plus what the tariff depends on.
 * @param {Date} at
 */
function meterClock(at) {
  /** @type {Record<string, string>} */
  const p = {};
  for (const { type, value } of CLOCK.formatToParts(at)) p[type] = value;
  const stamp = `${p.year}${p.month}${p.day}${p.hour}${p.minute}${p.second}${p.timeZoneName === 'GMT+2' ? 'S' : 'W'}`;
  return { stamp, hour: Number(p.hour), weekend: p.weekday === 'Sat' || p.weekday === 'Sun' };
}

/** @param {number} value @param {number} intDigits @param {number} decimals */
function fixed(value, intDigits, decimals) {
  return value.toFixed(decimals).padStart(intDigits + 1 + decimals, '0');
}

export class SimulatedMeter {
  #deliveredKwh = [0, 0];
  #returnedKwh = [0, 0];
  #gasM3;
  /** The gas value and time at the last whole 5 minutes: a DSMR 5 meter reports that, not the live value. */
  #gasMark = { m3: 0, ms: 0 };
  /** @type {number | null} */
  #lastMs = null;
  #equipmentId;

  /**
   * @param {{ equipmentId?: string, startKwh?: number, startGasM3?: number }} [options]
   */
  constructor(options = {}) {
    const start = options.startKwh ?? 1000;
    this.#deliveredKwh = [start, start * 0.8];
    this.#returnedKwh = [start * 0.1, start * 0.15];
    this.#gasM3 = options.startGasM3 ?? 500;
    this.#equipmentId = options.equipmentId ?? 'SKIFFSIM0000000001';
  }

  /**
   * Advances the counters to `at` and returns the telegram the meter would send then.
   * @param {Date} at
   */
  telegram(at) {
    const ms = at.getTime();
    const clock = meterClock(at);
    const tariff = clock.weekend || clock.hour < 7 || clock.hour >= 23 ? 1 : 2;
    const dayFraction = (clock.hour + (ms % 3_600_000) / 3_600_000) / 24;
    // A base load with a peak in the evening, and solar return around noon.
    const loadKw = 0.25 + 0.9 * Math.max(0, Math.sin((Math.PI * (dayFraction - 0.3)) / 0.7));
    const solarKw = 2.5 * Math.max(0, Math.sin((Math.PI * (dayFraction - 0.3)) / 0.45));
    const netKw = loadKw - solarKw;
    const powerDeliveredKw = Math.max(0, netKw);
    const powerReturnedKw = Math.max(0, -netKw);
    if (this.#lastMs !== null && ms > this.#lastMs) {
      const hours = (ms - this.#lastMs) / 3_600_000;
      const i = tariff - 1;
      this.#deliveredKwh[i] = (this.#deliveredKwh[i] ?? 0) + powerDeliveredKw * hours;
      this.#returnedKwh[i] = (this.#returnedKwh[i] ?? 0) + powerReturnedKw * hours;
      this.#gasM3 += 0.15 * hours;
    }
    this.#lastMs = Math.max(ms, this.#lastMs ?? ms);
    const mark = this.#lastMs - (this.#lastMs % 300_000);
    if (mark !== this.#gasMark.ms) this.#gasMark = { m3: this.#gasM3, ms: mark };
    const [d1 = 0, d2 = 0] = this.#deliveredKwh;
    const [r1 = 0, r2 = 0] = this.#returnedKwh;
    return encodeTelegram('SKF5\\2SKIFF-SIM', [
      '1-3:0.2.8(50)',
      `0-0:1.0.0(${clock.stamp})`,
      `0-0:96.1.1(${Buffer.from(this.#equipmentId, 'latin1').toString('hex').toUpperCase()})`,
      `1-0:1.8.1(${fixed(d1, 6, 3)}*kWh)`,
      `1-0:1.8.2(${fixed(d2, 6, 3)}*kWh)`,
      `1-0:2.8.1(${fixed(r1, 6, 3)}*kWh)`,
      `1-0:2.8.2(${fixed(r2, 6, 3)}*kWh)`,
      `0-0:96.14.0(${String(tariff).padStart(4, '0')})`,
      `1-0:1.7.0(${fixed(powerDeliveredKw, 2, 3)}*kW)`,
      `1-0:2.7.0(${fixed(powerReturnedKw, 2, 3)}*kW)`,
      '0-0:96.7.21(00003)',
      '0-0:96.7.9(00001)',
      '1-0:32.7.0(230.1*V)',
      '1-0:31.7.0(002*A)',
      '0-1:24.1.0(003)',
      `0-1:96.1.0(${Buffer.from(`${this.#equipmentId}G`, 'latin1').toString('hex').toUpperCase()})`,
      `0-1:24.2.1(${meterClock(new Date(this.#gasMark.ms)).stamp})(${fixed(this.#gasMark.m3, 5, 3)}*m3)`,
    ]);
  }
}

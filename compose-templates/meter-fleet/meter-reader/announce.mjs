// @ts-check
// Tells the device's supervisor which meter this reader is connected to: the equipment identifier every DSMR
// telegram announces (OBIS 0-0:96.1.1, decoded). The supervisor gives each service a directory of its own
// (SKIFF_LOCK_DIR, where its update lock and hand-over files live too) and reads `meter-serial` there: no network,
// port or key is needed between the container and the supervisor. The supervisor reports it, and the fleet's API
// flags a box whose meter is not the one it was commissioned for.

import fs from 'node:fs';
import path from 'node:path';

/** The file the supervisor reads (supervisor/device/meter-serial.ts names the same). */
export const METER_SERIAL_FILE = 'meter-serial';

/**
 * An identifier as the supervisor reports it: printable ASCII without spaces, at most 96 characters (DSMR allows
 * 96 hex digits before decoding); null for anything else, so a garbled telegram never becomes a "wrong meter".
 * @param {string | null | undefined} id
 * @returns {string | null}
 */
export function reportableSerial(id) {
  if (typeof id !== 'string') return null;
  const trimmed = id.trim();
  return /^[!-~]{1,96}$/.test(trimmed) ? trimmed : null;
}

export class MeterSerialAnnouncer {
  /** @type {string | null} */
  #written = null;
  #dir;
  #log;

  /**
   * @param {{ dir: string | undefined, log: { warn(msg: string, fields?: object): void, info(msg: string, fields?: object): void } }} options
   *   dir: the service's directory from the supervisor (SKIFF_LOCK_DIR); undefined when not run by Skiff
   */
  constructor({ dir, log }) {
    this.#dir = dir;
    this.#log = log;
  }

  /**
   * Writes the identifier when it differs from the one written last (once per meter, not per telegram: SD cards
   * wear). Atomic (a temporary file renamed over the old one), so the supervisor never reads half a serial.
   * @param {string | null | undefined} id the reading's meterId
   * @returns {boolean} whether it was written now
   */
  announce(id) {
    const serial = reportableSerial(id);
    if (this.#dir === undefined || serial === null || serial === this.#written) return false;
    const file = path.join(this.#dir, METER_SERIAL_FILE);
    const temporary = `${file}.tmp`;
    try {
      fs.writeFileSync(temporary, `${serial}\n`);
      fs.renameSync(temporary, file);
    } catch (err) {
      this.#log.warn('cannot tell the supervisor the meter serial', {
        file,
        error: err instanceof Error ? err.message : String(err),
      });
      return false;
    }
    if (this.#written !== null)
      this.#log.warn('the meter announces another serial', { was: this.#written, now: serial });
    else this.#log.info('meter serial', { serial });
    this.#written = serial;
    return true;
  }
}

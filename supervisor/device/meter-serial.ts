// The serial of the meter this device reads, as its meter reader heard the meter announce it (the DSMR equipment
// identifier, OBIS 0-0:96.1.1): the reader writes it into `meter-serial` of the directory the supervisor gives each
// service (SKIFF_LOCK_DIR, next to its update lock; compose-templates/meter-fleet/meter-reader/announce.mjs), and
// the supervisor reports it (protocol/state-report.ts meterSerial). The file is the service's to write, so what it
// holds is checked like anything else a container says: bounded, printable, or ignored.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { lockDir } from '../plan/lock-paths.js';

export const METER_SERIAL_FILE = 'meter-serial';
/** More than any identifier (96 characters and a newline): a larger file is not read whole. */
const MAX_FILE_BYTES = 256;

/** The identifier as reported, or null when the text is not one (printable ASCII, no spaces, 1 to 96 characters). */
export function meterSerialOf(text: string): string | null {
  const trimmed = text.trim();
  return /^[!-~]{1,96}$/.test(trimmed) ? trimmed : null;
}

/** The serial the first of `services` that announced one wrote; null when none did. */
export async function readMeterSerial(lockRoot: string, services: readonly string[]): Promise<string | null> {
  for (const service of services) {
    let text: string;
    try {
      const file = path.join(lockDir(lockRoot, service), METER_SERIAL_FILE);
      const bytes = await readFile(file);
      if (bytes.length > MAX_FILE_BYTES) continue;
      text = bytes.toString('latin1');
    } catch {
      continue;
    }
    const serial = meterSerialOf(text);
    if (serial !== null) return serial;
  }
  return null;
}

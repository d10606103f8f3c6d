// Whether this device does host OS updates (DATA_DIR/host-os.json), and if so its updater, started. The updater's
// modules (RAUC, the bundle fetcher, the health checks, the state machine: about 1 MB resident) are loaded only
// then: most devices have no host-os.json and never use them.
import type { DeviceHealthInputs } from './device-health.js';
import type { OsUpdater } from './os-updater.js';
import type { Logger } from '../../lib/logger.js';
import { loadHostOsSettings } from './settings.js';

export interface HostOsInputs extends DeviceHealthInputs {
  dataDir: string;
  apiBaseUrl: string;
  requestHeaders?: () => Record<string, string>;
  log: Logger;
  onChange: () => void;
}

/** The updater if this device does host OS updates (DATA_DIR/host-os.json), started; null otherwise. */
export async function startHostOs(inputs: HostOsInputs): Promise<OsUpdater | null> {
  const settings = await loadHostOsSettings(inputs.dataDir);
  if (settings === null) return null;
  const { createOsUpdater } = await import('./host-os-updater.js');
  const updater = createOsUpdater(settings, inputs);
  await updater.start();
  return updater;
}

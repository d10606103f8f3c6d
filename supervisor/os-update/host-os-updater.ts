// The supervisor's host OS updater, assembled from the device's settings: RAUC through its CLI, the bundle
// fetched from the API, the device health checks after a reboot, and a reboot by the configured command. Loaded by
// host-os.ts only on a device that does host OS updates.
import { execFile } from 'node:child_process';
import path from 'node:path';
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import { RangeBundleFetcher } from './bundle-fetcher.js';
import { deviceHealthChecks } from './device-health.js';
import type { HostOsInputs } from './host-os.js';
import { OsUpdater } from './os-updater.js';
import { Rauc } from '../../lib/rauc.js';
import { FileRecordStore } from './record-store.js';
import { osReleaseVersion, type HostOsSettings } from './settings.js';

function runReboot(argv: string[], log: Logger): Promise<void> {
  const [command, ...args] = argv;
  if (command === undefined) return Promise.reject(new Error('empty reboot command'));
  log.warn({ command: argv }, 'rebooting for the OS update');
  return new Promise((resolve, reject) => {
    execFile(command, args, (err, _stdout, stderr) => {
      if (err === null) resolve();
      else reject(new Error(`reboot command ${argv.join(' ')} failed: ${stderr.trim() || messageOf(err)}`));
    });
  });
}

export function createOsUpdater(settings: HostOsSettings, inputs: HostOsInputs): OsUpdater {
  const dir = path.join(inputs.dataDir, 'os-update');
  return new OsUpdater({
    store: new FileRecordStore(inputs.dataDir),
    rauc: new Rauc({ configPath: settings.raucConfig, busAddress: settings.busAddress }),
    fetcher: new RangeBundleFetcher(path.join(dir, 'partial')),
    bundleDir: dir,
    apiBaseUrl: inputs.apiBaseUrl,
    requestHeaders: inputs.requestHeaders,
    healthChecks: () => deviceHealthChecks(inputs),
    healthDeadlineMs: settings.healthDeadlineSeconds * 1000,
    reboot: () => runReboot(settings.rebootCommand, inputs.log),
    baseVersion: () => osReleaseVersion(settings.osReleaseFile ?? '/etc/os-release'),
    log: inputs.log,
    onChange: inputs.onChange,
  });
}

// `skiff devices` and `skiff device show`: where each device is, what it runs, how its update goes, and which
// devices wait for an operator (`--status pending`).
import type { Command } from 'commander';
import type { DeviceDetail } from '../../protocol/device-detail.js';
import type { ApiClient } from '../api-client.js';
import { toJson } from '../views/output.js';
import { clientFor, type Io } from '../session.js';
import { deviceDetail, devicesTable, fleetDataUseText } from '../views/api-objects.js';
import { deviceRef, deviceStatus, fleetName, kinds, selector } from '../options/kinds.js';

/**
 * A device by uuid, short id, or a unique start of either (at least 4 characters): the API resolves all of them and
 * names the devices a prefix fits when it fits several, so every command that takes a device agrees.
 */
export async function findDevice(client: ApiClient, given: string): Promise<DeviceDetail> {
  return client.getDevice(given);
}

export function registerDevices(program: Command, io: Io): void {
  const devices = program
    .command('devices')
    .description('list devices with their release and update status')
    .option('--fleet <name>', 'only the devices of this fleet')
    .option('--status <status>', 'only devices that are preauthorized, pending, accepted or rejected')
    .option(
      '--filter <selector>',
      "only the devices a selector picks, e.g. 'tag:region=north,type:raspberrypi4-64' (keys: tag type os release fleet customer site name id status online group)",
    )
    .option('--json', 'print JSON instead of a table');
  kinds(devices, { '--fleet': fleetName, '--status': deviceStatus, '--filter': selector }).action(
    async (opts: { fleet?: string; status?: string; filter?: string; json?: boolean }, cmd: Command) => {
      const devices = await (await clientFor(cmd, io)).listDevices(opts.fleet, opts.status, opts.filter);
      if (opts.json) io.stdout(toJson(devices));
      else if (devices.length === 0) io.stdout('No devices.\n');
      else io.stdout(`${devicesTable(devices, io.now())}${fleetDataUseText(devices) ?? ''}`);
    },
  );

  const device = program
    .command('device')
    .description('show or manage one device (by uuid, short id, or the start of either)');
  const show = device
    // `skiff device X` shows X, as people type it first.
    .command('show <device>', { isDefault: true })
    .description('show a device and the state of each service it reported last (the default: `skiff device X`)')
    .option('--json', 'print JSON');
  kinds(show, { '<device>': deviceRef }).action(async (given: string, opts: { json?: boolean }, cmd: Command) => {
    const found = await findDevice(await clientFor(cmd, io), given);
    io.stdout(opts.json ? toJson(found) : deviceDetail(found, io.now()));
  });
}

// `skiff devices` and `skiff device show`: where each device is, what it runs, how its update goes.
import type { Command } from 'commander';
import type { DeviceDetail } from '../../protocol/device-detail.js';
import { ApiClient, ApiProblemError } from '../api-client.js';
import { toJson } from '../output.js';
import { clientFor, type Io } from '../session.js';
import { deviceDetail, devicesTable } from '../views.js';

/**
 * A device by full UUID, or by the short prefix `skiff devices` shows, as long as exactly one device has it.
 */
async function findDevice(client: ApiClient, uuid: string): Promise<DeviceDetail> {
  try {
    return await client.getDevice(uuid);
  } catch (err) {
    if (!(err instanceof ApiProblemError) || err.problem.status !== 404) throw err;
    const matches = (await client.listDevices()).filter((d) => d.uuid.startsWith(uuid));
    if (matches.length === 1) return client.getDevice(matches[0]!.uuid);
    if (matches.length > 1) {
      throw new Error(`'${uuid}' is the start of ${matches.length} device UUIDs (${matches.map((d) => d.uuid).join(', ')}); give more of it`);
    }
    throw err;
  }
}

export function registerDevices(program: Command, io: Io): void {
  program
    .command('devices')
    .description('list devices with their release and update status')
    .option('--fleet <name>', 'only the devices of this fleet')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { fleet?: string; json?: boolean }, cmd: Command) => {
      const devices = await (await clientFor(cmd, io)).listDevices(opts.fleet);
      if (opts.json) io.stdout(toJson(devices));
      else io.stdout(devices.length === 0 ? 'No devices.\n' : devicesTable(devices, io.now()));
    });

  const device = program.command('device').description('show one device');
  device
    .command('show <uuid>')
    .description('show a device and the state of each service it reported last (a unique UUID prefix will do)')
    .option('--json', 'print JSON')
    .action(async (uuid: string, opts: { json?: boolean }, cmd: Command) => {
      const found = await findDevice(await clientFor(cmd, io), uuid);
      io.stdout(opts.json ? toJson(found) : deviceDetail(found, io.now()));
    });
}

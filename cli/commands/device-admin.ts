// `skiff device pin|track-fleet|revoke|accept`: what operators do to one device. Added to the `device` command
// that commands/devices.ts creates.
import type { Command } from 'commander';
import type { DeviceDetail } from '../../protocol/device-detail.js';
import type { ApiClient } from '../api-client.js';
import { toJson } from '../output.js';
import { clientFor, type Io } from '../session.js';
import { shortUuid } from '../views.js';

/** A device by full UUID, or by the short prefix `skiff devices` shows, as long as exactly one device has it. */
async function resolveUuid(client: ApiClient, given: string): Promise<string> {
  const devices = await client.listDevices();
  if (devices.some((d) => d.uuid === given)) return given;
  const matches = devices.filter((d) => d.uuid.startsWith(given));
  if (matches.length === 1) return matches[0]!.uuid;
  if (matches.length > 1) {
    throw new Error(`'${given}' is the start of ${matches.length} device UUIDs (${matches.map((d) => d.uuid).join(', ')}); give more of it`);
  }
  throw new Error(`no device has a UUID starting with '${given}'`);
}

function deviceCommand(program: Command): Command {
  return program.commands.find((c) => c.name() === 'device') ?? program.command('device').description('show or manage one device');
}

function said(device: DeviceDetail): string {
  return `Device ${device.name} (${shortUuid(device.uuid)})`;
}

type Change = (client: ApiClient, uuid: string) => Promise<DeviceDetail>;

export function registerDeviceAdmin(program: Command, io: Io): void {
  const device = deviceCommand(program);

  const run = (change: Change, describe: (d: DeviceDetail) => string) =>
    async (uuid: string, opts: { json?: boolean }, cmd: Command): Promise<void> => {
      const client = await clientFor(cmd, io);
      const changed = await change(client, await resolveUuid(client, uuid));
      io.stdout(opts.json ? toJson(changed) : `${said(changed)}: ${describe(changed)}\n`);
    };

  device
    .command('pin <uuid> <release>')
    .description("pin one device to a release (id or version) of its fleet, whatever the fleet's policy")
    .option('--json', 'print JSON')
    .action(async (uuid: string, release: string, opts: { json?: boolean }, cmd: Command) =>
      run((client, found) => client.pinDevice(found, release), (d) => `pinned to release ${d.pinnedRelease ?? release}`)(uuid, opts, cmd));

  device
    .command('track-fleet <uuid>')
    .description("drop a device's own pin: it runs what its fleet runs again")
    .option('--json', 'print JSON')
    .action(run((client, found) => client.trackFleet(found), (d) => `follows fleet ${d.fleet} (target release ${d.targetRelease ?? 'none'})`));

  device
    .command('revoke <uuid>')
    .description('revoke a device: its key stops working at once and it cannot register again until accepted')
    .option('--json', 'print JSON')
    .action(run((client, found) => client.revokeDevice(found), (d) => `revoked at ${d.revokedAt ?? '?'}`));

  device
    .command('accept <uuid>')
    .description('let a revoked device register again (it gets a new key; its old one stays dead)')
    .option('--json', 'print JSON')
    .action(run((client, found) => client.acceptDevice(found), () => 'accepted: it may register again'));
}

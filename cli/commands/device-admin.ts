// `skiff device pin|track-fleet|rename|tag|note|accept|reject|revoke|preauthorize`: what operators do to one
// device. Added to the `device` command that commands/devices.ts creates.
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { DeviceDetail } from '../../protocol/device-detail.js';
import type { ApiClient } from '../api-client.js';
import { printable, toJson } from '../views/output.js';
import { clientFor, type Io } from '../session.js';
import { deviceId } from '../views/api-objects.js';
import { findDevice } from './devices.js';
import { deviceName, deviceNote, deviceRef, fleetName, kinds, publicKey, releaseRef, tag } from '../options/kinds.js';

function deviceCommand(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === 'device') ??
    program.command('device').description('show or manage one device')
  );
}

function said(device: DeviceDetail): string {
  return `Device ${device.name} (${deviceId(device)})`;
}

type Change = (client: ApiClient, uuid: string) => Promise<DeviceDetail>;

/**
 * A public key as given: the base64 SPKI DER itself, or a PEM file (`openssl pkey -pubout`, or the device's
 * device-key.pem, whose public half is taken) holding it.
 */
async function publicKeyFrom(given: string): Promise<string> {
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(given) && given.length >= 40) return given;
  const pem = await readFile(given, 'utf8').catch((err: unknown) => {
    throw new Error(
      `'${given}' is neither a base64 public key nor a readable PEM file: ${err instanceof Error ? err.message : String(err)}`,
    );
  });
  return createPublicKey(pem).export({ format: 'der', type: 'spki' }).toString('base64');
}

export function registerDeviceAdmin(program: Command, io: Io): void {
  const device = deviceCommand(program);

  const run =
    (change: Change, describe: (d: DeviceDetail) => string) =>
    async (given: string, opts: { json?: boolean }, cmd: Command): Promise<void> => {
      const client = await clientFor(cmd, io);
      const changed = await change(client, (await findDevice(client, given)).uuid);
      io.stdout(opts.json ? toJson(changed) : `${printable(`${said(changed)}: ${describe(changed)}`)}\n`);
    };

  kinds(
    device
      .command('pin <device> <release>')
      .description("pin one device to a release (id or version) of its fleet, whatever the fleet's policy")
      .option('--json', 'print JSON'),
    { '<device>': deviceRef, '<release>': releaseRef },
  ).action(async (given: string, release: string, opts: { json?: boolean }, cmd: Command) =>
    run(
      (client, found) => client.pinDevice(found, release),
      (d) => `pinned to release ${d.pinnedRelease ?? release}`,
    )(given, opts, cmd),
  );

  kinds(
    device
      .command('track-fleet <device>')
      .description("drop a device's own pin: it runs what its fleet runs again")
      .option('--json', 'print JSON'),
    { '<device>': deviceRef },
  ).action(
    run(
      (client, found) => client.trackFleet(found),
      (d) => `follows fleet ${d.fleet} (target release ${d.targetRelease ?? 'none'})`,
    ),
  );

  kinds(
    device.command('rename <device> <name>').description('give a device a new name').option('--json', 'print JSON'),
    { '<device>': deviceRef, '<name>': deviceName },
  ).action(async (given: string, name: string, opts: { json?: boolean }, cmd: Command) =>
    run(
      (client, found) => client.updateDevice(found, { name }),
      (d) => `renamed to ${d.name}`,
    )(given, opts, cmd),
  );

  kinds(
    device
      .command('tag <device> [tags...]')
      .description("replace a device's tags (none: remove them all)")
      .option('--json', 'print JSON'),
    { '<device>': deviceRef, '<tags>': tag },
  ).action(async (given: string, tags: string[], opts: { json?: boolean }, cmd: Command) =>
    run(
      (client, found) => client.updateDevice(found, { tags }),
      (d) => `tags ${d.tags?.join(', ') || 'none'}`,
    )(given, opts, cmd),
  );

  kinds(
    device
      .command('note <device> [text]')
      .description('set where a device is or whose it is, for people (no text: clear it)')
      .option('--json', 'print JSON'),
    { '<device>': deviceRef, '<text>': deviceNote },
  ).action(async (given: string, text: string | undefined, opts: { json?: boolean }, cmd: Command) =>
    run(
      (client, found) => client.updateDevice(found, { note: text ?? null }),
      (d) => (d.note === null || d.note === undefined ? 'note cleared' : `note: ${d.note}`),
    )(given, opts, cmd),
  );

  kinds(
    device
      .command('accept <device>')
      .description('admit a pending device, or take a rejected or revoked one back with the key it has')
      .option('--json', 'print JSON'),
    { '<device>': deviceRef },
  ).action(
    run(
      (client, found) => client.acceptDevice(found),
      () => 'accepted: it gets a token when it next asks',
    ),
  );

  kinds(
    device
      .command('reject <device>')
      .description('refuse a pending device: its key is refused until it is accepted')
      .option('--json', 'print JSON'),
    { '<device>': deviceRef },
  ).action(
    run(
      (client, found) => client.rejectDevice(found),
      () => 'rejected',
    ),
  );

  kinds(
    device
      .command('revoke <device>')
      .description('revoke a device: its tokens stop working at once and it is refused until accepted again')
      .option('--json', 'print JSON'),
    { '<device>': deviceRef },
  ).action(
    run(
      (client, found) => client.revokeDevice(found),
      (d) => `revoked at ${d.revokedAt ?? '?'}`,
    ),
  );

  kinds(
    device
      .command('preauthorize <fleet> <public-key>')
      .description(
        "admit a device's public key (base64 SPKI DER, or a PEM file) before it calls: it is accepted on first contact",
      )
      .option('--uuid <uuid>', 'the uuid the device will use (else the device brings its own)')
      .option('--name <name>', 'its name')
      .option('--json', 'print JSON'),
    { '<fleet>': fleetName, '<public-key>': publicKey, '--uuid': deviceRef, '--name': deviceName },
  ).action(async (fleet: string, key: string, opts: { uuid?: string; name?: string; json?: boolean }, cmd: Command) => {
    const client = await clientFor(cmd, io);
    const made = await client.preauthorizeDevice({
      fleet,
      publicKey: await publicKeyFrom(key),
      ...(opts.uuid === undefined ? {} : { uuid: opts.uuid }),
      ...(opts.name === undefined ? {} : { name: opts.name }),
    });
    io.stdout(opts.json ? toJson(made) : `${printable(`${said(made)}: pre-authorized in fleet ${made.fleet}`)}\n`);
  });
}

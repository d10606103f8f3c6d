// `skiff device pin|track-fleet|rename|tag|note|accept|reject|revoke|decommission|preauthorize`: what operators do
// to one device, and (pin, track-fleet, tag, revoke with --filter) to every device of a fleet a selector picks.
// Added to the `device` command that commands/devices.ts creates.
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { DeviceDetail } from '../../protocol/device-detail.js';
import type { ApiClient } from '../api-client.js';
import { printable, toJson } from '../views/output.js';
import { clientFor, type Io } from '../session.js';
import { deviceId } from '../views/api-objects.js';
import { findDevice } from './devices.js';
import {
  deviceName,
  deviceNote,
  deviceRef,
  fleetName,
  kinds,
  oneTag,
  publicKey,
  readAs,
  releaseRef,
  selector,
  tag,
  UsageError,
} from '../options/kinds.js';
import { retagged } from '../../protocol/device-groups.js';
import { type BulkOptions, bulkTarget, bulkText, requireYes } from './groups.js';

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

  /** The one device a single-device form names: refused when missing or given with --filter/--all. */
  const oneDevice = (given: string | undefined, opts: BulkOptions, command: string): string => {
    if (opts.filter !== undefined || opts.all === true)
      throw new UsageError(`${command}: give a device, or --filter/--all, not both`, '--filter', command);
    if (given === undefined) throw new UsageError(`${command} needs a device, or --filter SELECTOR`, null, command);
    return given;
  };
  const bulk = (form: Command): Command =>
    form
      .option('--filter <selector>', "every device of the fleet this selector picks, e.g. 'tag:region=north'")
      .option('--all', 'every device of the fleet (an empty selector is refused without it)')
      .option('--fleet <fleet>', "the fleet of --filter (else the selector's fleet:NAME term)");
  const bulkKinds = { '--filter': selector, '--fleet': fleetName } as const;

  kinds(
    bulk(
      device
        .command('pin <device-or-release> [release]')
        .description(
          "pin one device to a release (id or version) of its fleet, whatever the fleet's policy: pin DEVICE RELEASE; or every device a selector picks: pin --filter SELECTOR RELEASE",
        )
        .option('--json', 'print JSON'),
    ),
    { '<device-or-release>': releaseRef, '<release>': releaseRef, ...bulkKinds },
  ).action(async (first: string, second: string | undefined, opts: BulkOptions & { json?: boolean }, cmd: Command) => {
    if (opts.filter !== undefined || opts.all === true) {
      if (second !== undefined)
        throw new UsageError('skiff device pin --filter takes the release only: pin --filter SELECTOR RELEASE');
      const target = bulkTarget(opts, 'skiff device pin');
      const result = await (await clientFor(cmd, io)).bulkPin(target.fleet, { ...target.request, release: first });
      io.stdout(opts.json ? toJson(result) : bulkText(`pinned to release ${first}`, result));
      return;
    }
    if (second === undefined)
      throw new UsageError(
        'skiff device pin needs a device and a release: pin DEVICE RELEASE, or pin --filter SELECTOR RELEASE',
      );
    await run(
      (client, found) => client.pinDevice(found, second),
      (d) => `pinned to release ${d.pinnedRelease ?? second}`,
    )(readAs(deviceRef, '<device>', first), opts, cmd);
  });

  kinds(
    bulk(
      device
        .command('track-fleet [device]')
        .description(
          "drop a device's own pin (or, with --filter, the pins of every device a selector picks): it runs what its fleet runs again",
        )
        .option('--json', 'print JSON'),
    ),
    { '<device>': deviceRef, ...bulkKinds },
  ).action(async (given: string | undefined, opts: BulkOptions & { json?: boolean }, cmd: Command) => {
    if (given === undefined && (opts.filter !== undefined || opts.all === true)) {
      const target = bulkTarget(opts, 'skiff device track-fleet');
      const result = await (await clientFor(cmd, io)).bulkTrackFleet(target.fleet, target.request);
      io.stdout(opts.json ? toJson(result) : bulkText('following their fleet', result));
      return;
    }
    await run(
      (client, found) => client.trackFleet(found),
      (d) => `follows fleet ${d.fleet} (target release ${d.targetRelease ?? 'none'})`,
    )(oneDevice(given, opts, 'skiff device track-fleet'), opts, cmd);
  });

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
    bulk(
      device
        .command('tag [device] [tags...]')
        .description(
          "replace a device's tags (none: remove them all); with --remove or --add, add the tags given and remove others instead (a key=value tag replaces that key's pairs); with --filter, do that to every device a selector picks",
        )
        .option('--remove <tag>', 'a tag to remove (a bare key removes its key=value pairs too); repeatable')
        .option('--add', 'add the tags given, keeping the others')
        .option('--json', 'print JSON'),
    ),
    // The first word is a tag when --filter names the devices: a device reference is a tag too, checked below.
    { '<device>': oneTag, '<tags>': tag, '--remove': tag, ...bulkKinds },
  ).action(
    async (
      first: string | undefined,
      rest: string[],
      opts: BulkOptions & { remove?: string[]; add?: boolean; json?: boolean },
      cmd: Command,
    ) => {
      const remove = opts.remove ?? [];
      if (opts.filter !== undefined || opts.all === true) {
        // No device argument: the first word is a tag.
        const add = [...(first === undefined ? [] : [readAs(tag, '<tags>', first)]), ...rest];
        if (add.length === 0 && remove.length === 0)
          throw new UsageError('skiff device tag --filter needs tags to add or --remove tags');
        const target = bulkTarget(opts, 'skiff device tag');
        const result = await (await clientFor(cmd, io)).bulkTag(target.fleet, { ...target.request, add, remove });
        io.stdout(opts.json ? toJson(result) : bulkText('tagged', result));
        return;
      }
      const given = readAs(deviceRef, '<device>', oneDevice(first, opts, 'skiff device tag'));
      const editing = opts.add === true || remove.length > 0;
      await run(
        async (client, found) =>
          client.updateDevice(found, {
            tags: editing ? retagged((await client.getDevice(found)).tags ?? [], rest, remove) : rest,
          }),
        (d) => `tags ${d.tags?.join(', ') || 'none'}`,
      )(given, opts, cmd);
    },
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
    bulk(
      device
        .command('revoke [device]')
        .description(
          'revoke a device (or, with --filter and --yes, every device a selector picks): its tokens stop working at once and it is refused until accepted again',
        )
        .option('--yes', 'confirm revoking by selector')
        .option('--json', 'print JSON'),
    ),
    { '<device>': deviceRef, ...bulkKinds },
  ).action(async (given: string | undefined, opts: BulkOptions & { yes?: boolean; json?: boolean }, cmd: Command) => {
    if (given === undefined && (opts.filter !== undefined || opts.all === true)) {
      const target = bulkTarget(opts, 'skiff device revoke');
      requireYes(
        opts.yes,
        `would revoke every device of fleet ${target.fleet} the selector picks`,
        'skiff device revoke',
      );
      const result = await (await clientFor(cmd, io)).bulkRevoke(target.fleet, target.request);
      io.stdout(opts.json ? toJson(result) : bulkText('revoked', result));
      return;
    }
    await run(
      (client, found) => client.revokeDevice(found),
      (d) => `revoked at ${d.revokedAt ?? '?'}`,
    )(oneDevice(given, opts, 'skiff device revoke'), opts, cmd);
  });

  kinds(
    device
      .command('decommission <device>')
      .description(
        'decommission a device: revoke it, forget its key, tokens, settings and reports, and free its short id; the audit log keeps its history',
      )
      .option('--yes', 'confirm: this cannot be undone')
      .option('--json', 'print JSON'),
    { '<device>': deviceRef },
  ).action(async (given: string, opts: { yes?: boolean; json?: boolean }, cmd: Command) => {
    requireYes(opts.yes, `would forget device ${given} for good`, 'skiff device decommission');
    const client = await clientFor(cmd, io);
    const gone = await client.decommissionDevice((await findDevice(client, given)).uuid);
    io.stdout(
      opts.json
        ? toJson(gone)
        : `${printable(`Device ${gone.name} (${gone.uuid}) of fleet ${gone.fleet} decommissioned; short id ${gone.shortId} is free again`)}\n`,
    );
  });

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

// `skiff fleets`, `skiff fleet create|show|set|update-now`: the fleets devices join and releases go to, and the
// settings every device of a fleet gets unless it overrides them.
import type { Command } from 'commander';
import type { Fleet } from '../../protocol/api.js';
import { DEVICE_TYPES } from '../../protocol/device-types.js';
import { toJson } from '../views/output.js';
import { clientFor, type Io } from '../session.js';
import {
  addSettingsOptions,
  pollInterval,
  settingsChangeOf,
  type SettingsOptions,
  settingsText,
  someChange,
} from '../options/settings.js';
import { fleetDeviceType, fleetName, kinds, many, oneOf, schemaText, wholeNumber } from '../options/kinds.js';
import {
  APPROVAL_POLICIES,
  HostPathSchema,
  type ApprovalPolicy,
  type FleetReviewChange,
} from '../../protocol/release-review.js';
import { UsageError } from '../failure.js';
import { deviceTypesTable, fleetDetail, fleetsTable } from '../views/api-objects.js';

interface JsonOption {
  json?: boolean;
}

function fleetText(fleet: Fleet): string {
  return fleetDetail(fleet) + (fleet.settings ? settingsText(fleet.settings) : '');
}

export function registerFleets(program: Command, io: Io): void {
  program
    .command('fleets')
    .description('list fleets')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: JsonOption, cmd: Command) => {
      const fleets = await (await clientFor(cmd, io)).listFleets();
      io.stdout(opts.json ? toJson(fleets) : fleets.length === 0 ? 'No fleets.\n' : fleetsTable(fleets));
    });

  program
    .command('device-types')
    .description('list the device types a fleet can admit, with the platform their images are built for')
    .option('--json', 'print JSON instead of a table')
    .action((opts: JsonOption) => {
      io.stdout(opts.json ? toJson(DEVICE_TYPES) : deviceTypesTable(DEVICE_TYPES));
    });

  const fleet = program.command('fleet').description('create, show or change one fleet');

  kinds(
    fleet
      .command('create <name>')
      .description('create a fleet and print its first provisioning key (once: only its hash is kept)')
      .requiredOption(
        '--device-type <type>',
        'a device type the fleet admits, e.g. raspberrypi4-64; repeat it for a mixed fleet (skiff device-types lists them)',
      )
      .option('--poll-interval <seconds>', 'how often devices poll for their target state')
      .option('--json', 'print JSON'),
    { '<name>': fleetName, '--device-type': fleetDeviceType, '--poll-interval': pollInterval },
  ).action(async (name: string, opts: JsonOption & { deviceType: string[]; pollInterval?: number }, cmd: Command) => {
    const client = await clientFor(cmd, io);
    const deviceTypes = [...new Set(opts.deviceType)];
    const created = await client.createFleet({
      name,
      ...(deviceTypes.length === 1 ? { deviceType: deviceTypes[0]! } : { deviceTypes }),
      ...(opts.pollInterval === undefined ? {} : { pollIntervalSeconds: opts.pollInterval }),
    });
    io.stdout(opts.json ? toJson(created) : fleetText(created));
  });

  kinds(
    fleet
      .command('show <name>')
      .description('show a fleet and its settings (its provisioning keys: skiff keys list)')
      .option('--json', 'print JSON'),
    { '<name>': fleetName },
  ).action(async (name: string, opts: JsonOption, cmd: Command) => {
    const found = await (await clientFor(cmd, io)).getFleet(name);
    io.stdout(opts.json ? toJson(found) : fleetText(found));
  });

  kinds(
    addSettingsOptions(
      fleet
        .command('set <name>')
        .description(
          "change a fleet's poll interval, update window, bandwidth cap or lock override (devices may override)",
        ),
    ).option('--json', 'print JSON'),
    { '<name>': fleetName },
  ).action(async (name: string, opts: JsonOption & SettingsOptions, cmd: Command) => {
    const change = someChange(settingsChangeOf(opts));
    const updated = await (await clientFor(cmd, io)).updateFleet(name, change);
    io.stdout(opts.json ? toJson(updated) : fleetText(updated));
  });

  kinds(
    fleet
      .command('review <name>')
      .description(
        "change when the fleet's releases wait for an operator's approval (skiff release approve) and which host " +
          'paths they may bind without it',
      )
      .option('--approval <policy>', `${APPROVAL_POLICIES.join(' | ')} (default privileged)`)
      .option('--allow-host-path <path>', 'a host path (and what is below it) services may bind; repeat for more')
      .option('--no-host-paths', 'allow no host path (the default)')
      .option('--json', 'print JSON'),
    {
      '<name>': fleetName,
      '--approval': oneOf('approval policy', APPROVAL_POLICIES),
      '--allow-host-path': many(
        schemaText('host path', HostPathSchema, { good: '/var/lib/skiff/tunnel', bad: 'var/lib/../x' }),
      ),
    },
  ).action(
    async (
      name: string,
      opts: JsonOption & { approval?: ApprovalPolicy; allowHostPath?: string[]; hostPaths?: boolean },
      cmd: Command,
    ) => {
      if (opts.hostPaths === false && opts.allowHostPath !== undefined)
        throw new UsageError('--no-host-paths and --allow-host-path contradict each other: give one of them');
      const change: FleetReviewChange = {
        ...(opts.approval === undefined ? {} : { approval: opts.approval }),
        ...(opts.allowHostPath === undefined ? {} : { allowedHostPaths: [...new Set(opts.allowHostPath)] }),
        ...(opts.hostPaths === false ? { allowedHostPaths: [] } : {}),
      };
      if (Object.keys(change).length === 0)
        throw new UsageError('nothing to change: give --approval, --allow-host-path or --no-host-paths');
      const updated = await (await clientFor(cmd, io)).setFleetReview(name, change);
      io.stdout(opts.json ? toJson(updated) : fleetText(updated));
    },
  );

  kinds(
    fleet
      .command('update-now <name>')
      .description('let every device of the fleet update now, whatever its update window (for an hour by default)')
      .option('--minutes <minutes>', 'how long the window is ignored')
      .option('--json', 'print JSON'),
    { '<name>': fleetName, '--minutes': wholeNumber(1, 10_080) },
  ).action(async (name: string, opts: JsonOption & { minutes?: number }, cmd: Command) => {
    const updated = await (await clientFor(cmd, io)).fleetUpdateNow(name, opts.minutes);
    io.stdout(
      opts.json
        ? toJson(updated)
        : `Fleet ${updated.name}: updates apply now, windows ignored until ${updated.settings?.forceUpdateUntil ?? '?'}\n`,
    );
  });
}

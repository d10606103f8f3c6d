// `skiff fleets`, `skiff fleet create`, `skiff fleet show`: the fleets devices join and releases go to.
import { InvalidArgumentError, type Command } from 'commander';
import { toJson } from '../output.js';
import { clientFor, type Io } from '../session.js';
import { fleetDetail, fleetsTable } from '../views.js';

function positiveInteger(raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError('must be a whole number of seconds, at least 1');
  return value;
}

interface JsonOption {
  json?: boolean;
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

  const fleet = program.command('fleet').description('create or show one fleet');

  fleet
    .command('create <name>')
    .description('create a fleet and print its provisioning key')
    .requiredOption('--device-type <type>', 'device type of the fleet, e.g. raspberrypi4-64')
    .option('--poll-interval <seconds>', 'how often devices poll for their target state', positiveInteger)
    .option('--json', 'print JSON')
    .action(async (name: string, opts: JsonOption & { deviceType: string; pollInterval?: number }, cmd: Command) => {
      const client = await clientFor(cmd, io);
      const created = await client.createFleet({
        name,
        deviceType: opts.deviceType,
        ...(opts.pollInterval === undefined ? {} : { pollIntervalSeconds: opts.pollInterval }),
      });
      io.stdout(opts.json ? toJson(created) : fleetDetail(created));
    });

  fleet
    .command('show <name>')
    .description('show a fleet, with its provisioning key')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: JsonOption, cmd: Command) => {
      const found = await (await clientFor(cmd, io)).getFleet(name);
      io.stdout(opts.json ? toJson(found) : fleetDetail(found));
    });
}

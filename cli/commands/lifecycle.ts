// `skiff fleet archive|unarchive|delete`, `skiff release delete`, `skiff user delete`: the ends of fleets, releases
// and users (a device's is `skiff device decommission`). Added to the `fleet`, `release` and `user` commands their
// own files create; what cannot be undone asks for --yes (CI has no stdin to confirm on).
import type { Command } from 'commander';
import { fleetName, kinds, releaseRef, userName } from '../options/kinds.js';
import { printable, toJson } from '../views/output.js';
import { clientFor, type Io } from '../session.js';
import { requireYes } from './groups.js';

function group(program: Command, name: string, description: string): Command {
  return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
}

export function registerLifecycle(program: Command, io: Io): void {
  const fleet = group(program, 'fleet', 'create, show or change one fleet');
  const say = (json: boolean | undefined, value: unknown, text: string): void =>
    io.stdout(json ? toJson(value) : `${printable(text)}\n`);

  kinds(
    fleet
      .command('archive <name>')
      .description('archive a fleet: it takes no new devices or releases; its devices keep running what they run')
      .option('--json', 'print JSON'),
    { '<name>': fleetName },
  ).action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
    const archived = await (await clientFor(cmd, io)).archiveFleet(name);
    say(opts.json, archived, `Fleet ${archived.name} archived at ${archived.archivedAt ?? '?'}`);
  });

  kinds(
    fleet
      .command('unarchive <name>')
      .description('take a fleet out of the archive: it admits devices and releases again')
      .option('--json', 'print JSON'),
    { '<name>': fleetName },
  ).action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
    const back = await (await clientFor(cmd, io)).unarchiveFleet(name);
    say(opts.json, back, `Fleet ${back.name} is out of the archive`);
  });

  kinds(
    fleet
      .command('delete <name>')
      .description('delete a fleet without devices, with its releases, groups, keys and settings')
      .option('--yes', 'confirm: this cannot be undone')
      .option('--json', 'print JSON'),
    { '<name>': fleetName },
  ).action(async (name: string, opts: { yes?: boolean; json?: boolean }, cmd: Command) => {
    requireYes(opts.yes, `would delete fleet ${name} and all its releases`, 'skiff fleet delete');
    const gone = await (await clientFor(cmd, io)).deleteFleet(name);
    say(opts.json, gone, `Fleet ${gone.name} deleted`);
  });

  const release = group(program, 'release', 'show, approve or reject one release');
  kinds(
    release
      .command('delete <fleet> <release>')
      .description('delete a release (id or version) that no device runs or targets')
      .option('--yes', 'confirm: this cannot be undone')
      .option('--json', 'print JSON'),
    { '<fleet>': fleetName, '<release>': releaseRef },
  ).action(async (fleetGiven: string, wanted: string, opts: { yes?: boolean; json?: boolean }, cmd: Command) => {
    requireYes(opts.yes, `would delete release ${wanted} of fleet ${fleetGiven}`, 'skiff release delete');
    const gone = await (await clientFor(cmd, io)).deleteRelease(fleetGiven, wanted);
    say(opts.json, gone, `Release ${gone.version} (${gone.id}) of fleet ${gone.fleet} deleted`);
  });

  const user = group(program, 'user', 'create users, grant them roles on fleets');
  kinds(
    user
      .command('delete <name>')
      .description('delete a user with their API tokens and fleet roles (never the last admin)')
      .option('--yes', 'confirm: their tokens stop working at once')
      .option('--json', 'print JSON'),
    { '<name>': userName },
  ).action(async (name: string, opts: { yes?: boolean; json?: boolean }, cmd: Command) => {
    requireYes(opts.yes, `would delete user ${name} and their API tokens`, 'skiff user delete');
    const gone = await (await clientFor(cmd, io)).deleteUser(name);
    say(opts.json, gone, `User ${gone.name} deleted`);
  });
}

// `skiff releases`, `skiff pin`, `skiff track-latest`: what a fleet may run and which release it runs.
import type { Command } from 'commander';
import { toJson } from '../output.js';
import { clientFor, type Io } from '../session.js';
import { policyText, releasesTable } from '../views.js';

export function registerReleases(program: Command, io: Io): void {
  program
    .command('releases <fleet>')
    .description("list a fleet's releases")
    .option('--json', 'print JSON instead of a table')
    .action(async (fleet: string, opts: { json?: boolean }, cmd: Command) => {
      const releases = await (await clientFor(cmd, io)).listReleases(fleet);
      io.stdout(opts.json ? toJson(releases) : releases.length === 0 ? `No releases in fleet ${fleet}.\n` : releasesTable(releases, io.now()));
    });

  program
    .command('pin <fleet> <release>')
    .description('pin a fleet to one release (its id or version)')
    .action(async (fleet: string, release: string, _opts: unknown, cmd: Command) => {
      const updated = await (await clientFor(cmd, io)).pin(fleet, release);
      io.stdout(`Fleet ${updated.name}: release policy is now ${policyText(updated.releasePolicy)}\n`);
    });

  program
    .command('track-latest <fleet>')
    .description('let a fleet follow its latest release again')
    .action(async (fleet: string, _opts: unknown, cmd: Command) => {
      const updated = await (await clientFor(cmd, io)).trackLatest(fleet);
      io.stdout(`Fleet ${updated.name}: release policy is now ${policyText(updated.releasePolicy)}\n`);
    });
}

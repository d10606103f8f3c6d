// `skiff releases`, `skiff release show`, `skiff pin`, `skiff track-latest`: what a fleet may run (ready releases,
// whose images were verified in the registry) and which release it runs.
import type { Command } from 'commander';
import { toJson } from '../views/output.js';
import { clientFor, type Io } from '../session.js';
import { fleetName, kinds, releaseRef } from '../options/kinds.js';
import { policyText, releaseDetail, releasesTable } from '../views/api-objects.js';

export function registerReleases(program: Command, io: Io): void {
  kinds(
    program
      .command('releases <fleet>')
      .description("list a fleet's releases with their status and who pushed them")
      .option('--json', 'print JSON instead of a table'),
    { '<fleet>': fleetName },
  ).action(async (fleet: string, opts: { json?: boolean }, cmd: Command) => {
    const releases = await (await clientFor(cmd, io)).listReleases(fleet);
    io.stdout(
      opts.json
        ? toJson(releases)
        : releases.length === 0
          ? `No releases in fleet ${fleet}.\n`
          : releasesTable(releases, io.now()),
    );
  });

  kinds(
    program
      .command('release')
      .description('show one release')
      .command('show <fleet> <release>')
      .description('show a release (its id or version) with the result of its image verification')
      .option('--json', 'print JSON'),
    { '<fleet>': fleetName, '<release>': releaseRef },
  ).action(async (fleet: string, release: string, opts: { json?: boolean }, cmd: Command) => {
    const found = await (await clientFor(cmd, io)).getRelease(fleet, release);
    io.stdout(opts.json ? toJson(found) : releaseDetail(found, io.now()));
  });

  kinds(
    program
      .command('pin <fleet> <release>')
      .description('pin a fleet to one ready release (its id or version)')
      .option('--json', 'print JSON'),
    { '<fleet>': fleetName, '<release>': releaseRef },
  ).action(async (fleet: string, release: string, opts: { json?: boolean }, cmd: Command) => {
    const updated = await (await clientFor(cmd, io)).pin(fleet, release);
    io.stdout(
      opts.json
        ? toJson(updated)
        : `Fleet ${updated.name}: release policy is now ${policyText(updated.releasePolicy)}\n`,
    );
  });

  kinds(
    program
      .command('track-latest <fleet>')
      .description('let a fleet follow its latest ready release again')
      .option('--json', 'print JSON'),
    { '<fleet>': fleetName },
  ).action(async (fleet: string, opts: { json?: boolean }, cmd: Command) => {
    const updated = await (await clientFor(cmd, io)).trackLatest(fleet);
    io.stdout(
      opts.json
        ? toJson(updated)
        : `Fleet ${updated.name}: release policy is now ${policyText(updated.releasePolicy)}\n`,
    );
  });
}

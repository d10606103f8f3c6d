// `skiff releases`, `skiff release show|approve|reject`, `skiff pin`, `skiff track-latest`: what a fleet may run
// (ready releases, whose images were verified in the registry, approved where the fleet's review asks for it) and
// which release it runs.
import type { Command } from 'commander';
import { toJson } from '../views/output.js';
import { clientFor, type Io } from '../session.js';
import { fleetName, kinds, releaseRef, text } from '../options/kinds.js';
import { approvalText, policyText, releaseDetail, releasesTable } from '../views/api-objects.js';

const decisionNote = text('note', 1, 2000);

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

  const release = program.command('release').description('show, approve or reject one release');
  kinds(
    release
      .command('show <fleet> <release>')
      .description('show a release (its id or version) with the result of its image verification')
      .option('--json', 'print JSON'),
    { '<fleet>': fleetName, '<release>': releaseRef },
  ).action(async (fleet: string, release: string, opts: { json?: boolean }, cmd: Command) => {
    const found = await (await clientFor(cmd, io)).getRelease(fleet, release);
    io.stdout(opts.json ? toJson(found) : releaseDetail(found, io.now()));
  });

  for (const decision of ['approve', 'reject'] as const) {
    kinds(
      release
        .command(`${decision} <fleet> <release>`)
        .description(
          decision === 'approve'
            ? 'approve a release that waits for review: devices get it once its images are verified (operator)'
            : 'reject a release that waits for review: no device ever gets it (operator)',
        )
        .option('--note <text>', 'why, for the audit log')
        .option('--json', 'print JSON'),
      { '<fleet>': fleetName, '<release>': releaseRef, '--note': decisionNote },
    ).action(async (fleet: string, wanted: string, opts: { note?: string; json?: boolean }, cmd: Command) => {
      const client = await clientFor(cmd, io);
      const decided =
        decision === 'approve'
          ? await client.approveRelease(fleet, wanted, opts.note)
          : await client.rejectRelease(fleet, wanted, opts.note);
      io.stdout(
        opts.json
          ? toJson(decided)
          : `Release ${decided.version} of fleet ${decided.fleet}: ${approvalText(decided) ?? 'needs no approval'}\n`,
      );
    });
  }

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

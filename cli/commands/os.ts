// `skiff os upload|list|delete|pin|unpin|show`: host OS releases (signed RAUC bundles per device type) and which
// fleet or device runs which. A device's own pin wins over its fleet's; without any pin its OS is left alone.
import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import type { OsPin, OsRelease } from '../../protocol/os-release.js';
import type { ApiClient } from '../api-client.js';
import { formatBytes, relativeTime, renderFields, renderTable, toJson } from '../views/output.js';
import { scopeOf, type Scope, type ScopeOptions } from '../options/scope.js';
import { clientFor, type Io } from '../session.js';
import { deviceRef, fleetName, kinds, osDeviceType, osReleaseRef, osVersion, readableFile } from '../options/kinds.js';

const scopeKinds = { '--fleet': fleetName, '--device': deviceRef };

function releasesTable(releases: OsRelease[], now: Date): string {
  return renderTable(
    ['ID', 'DEVICE TYPE', 'VERSION', 'SIZE', 'DIGEST', 'CHECKED', 'UPLOADED', 'BY'],
    releases.map((r) => [
      r.id.slice(0, 8),
      r.deviceType,
      r.version,
      formatBytes(r.size),
      r.digest.slice(0, 19),
      r.compatible === null ? 'no' : 'rauc',
      relativeTime(r.createdAt, now),
      r.uploadedBy,
    ]),
  );
}

const versionOf = (release: OsRelease | null): string | null =>
  release === null ? null : `${release.version} (${release.id.slice(0, 8)})`;

function pinText(what: string, pin: OsPin): string {
  return renderFields([
    [what, null],
    ['Pinned', versionOf(pin.pinned) ?? 'none'],
    ['Gets', versionOf(pin.effective) ?? 'no host OS update'],
  ]);
}

/** What `os pin|unpin|show` do alike: resolve the scope, ask the API about its pin, print the answer. */
async function printPin(
  io: Io,
  cmd: Command,
  opts: ScopeOptions,
  ask: (client: ApiClient, scope: Scope) => Promise<OsPin>,
): Promise<void> {
  const scope = scopeOf(opts);
  const pin = await ask(await clientFor(cmd, io), scope);
  io.stdout(
    opts.json ? toJson(pin) : pinText('fleet' in scope ? `Fleet ${scope.fleet}` : `Device ${scope.device}`, pin),
  );
}

export function registerOs(program: Command, io: Io): void {
  const os = program
    .command('os')
    .description('host OS releases (signed RAUC bundles) and their fleet and device pins');

  kinds(
    os
      .command('upload <bundle>')
      .description('upload a signed RAUC bundle (.raucb) as a host OS release of a device type')
      .requiredOption('--device-type <type>', "the device type it is for (the bundle's RAUC compatible)")
      .requiredOption('--version <version>', "its version (the bundle manifest's, when it has one)")
      .option('--json', 'print JSON'),
    { '<bundle>': readableFile, '--device-type': osDeviceType, '--version': osVersion },
  ).action(async (bundle: string, opts: { deviceType: string; version: string; json?: boolean }, cmd: Command) => {
    const size = (
      await stat(bundle).catch((err: unknown) => {
        throw new Error(`cannot read the bundle ${bundle}: ${err instanceof Error ? err.message : String(err)}`);
      })
    ).size;
    io.stderr(`Uploading ${bundle} (${formatBytes(size)}) as ${opts.deviceType} ${opts.version}...\n`);
    const release = await (await clientFor(cmd, io)).uploadOsRelease(
      await openAsBlob(bundle),
      opts.deviceType,
      opts.version,
    );
    io.stdout(
      opts.json
        ? toJson(release)
        : renderFields([
            ['Host OS release', release.id],
            ['Device type', release.deviceType],
            ['Version', release.version],
            ['Size', formatBytes(release.size)],
            ['Digest', release.digest],
            [
              'Checked with rauc',
              release.compatible === null ? 'no (the API has no keyring)' : `yes (compatible ${release.compatible})`,
            ],
          ]),
    );
  });

  kinds(
    os
      .command('list')
      .description('list host OS releases, newest first')
      .option('--device-type <type>', 'only those of one device type')
      .option('--json', 'print JSON instead of a table'),
    { '--device-type': osDeviceType },
  ).action(async (opts: { deviceType?: string; json?: boolean }, cmd: Command) => {
    const releases = await (await clientFor(cmd, io)).listOsReleases(opts.deviceType);
    io.stdout(
      opts.json
        ? toJson(releases)
        : releases.length === 0
          ? 'No host OS releases.\n'
          : releasesTable(releases, io.now()),
    );
  });

  kinds(
    os
      .command('delete <id>')
      .description('delete a host OS release and its bundle (refused while a fleet or device is pinned to it)')
      .option('--json', 'print JSON'),
    { '<id>': osReleaseRef },
  ).action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
    const removed = await (await clientFor(cmd, io)).deleteOsRelease(id);
    io.stdout(
      opts.json
        ? toJson(removed)
        : `Deleted host OS release ${removed.version} of ${removed.deviceType} (${removed.id})\n`,
    );
  });

  kinds(
    os
      .command('pin <release>')
      .description("pin a fleet or one device to a host OS release (its id or version); the device's pin wins")
      .option('--fleet <fleet>', 'every device of this fleet')
      .option('--device <uuid>', 'this one device (uuid or short id)')
      .option('--json', 'print JSON'),
    { '<release>': osReleaseRef, ...scopeKinds },
  ).action((release: string, opts: ScopeOptions, cmd: Command) =>
    printPin(io, cmd, opts, (client, scope) =>
      'fleet' in scope ? client.pinFleetOs(scope.fleet, release) : client.pinDeviceOs(scope.device, release),
    ),
  );

  kinds(
    os
      .command('unpin')
      .description("remove a fleet's or a device's host OS pin (a device then follows its fleet's)")
      .option('--fleet <fleet>', 'the fleet')
      .option('--device <uuid>', 'the device (uuid or short id)')
      .option('--json', 'print JSON'),
    scopeKinds,
  ).action((opts: ScopeOptions, cmd: Command) =>
    printPin(io, cmd, opts, (client, scope) =>
      'fleet' in scope ? client.unpinFleetOs(scope.fleet) : client.unpinDeviceOs(scope.device),
    ),
  );

  kinds(
    os
      .command('show')
      .description("show a fleet's or a device's host OS pin and what the device gets")
      .option('--fleet <fleet>', 'the fleet')
      .option('--device <uuid>', 'the device (uuid or short id)')
      .option('--json', 'print JSON'),
    scopeKinds,
  ).action((opts: ScopeOptions, cmd: Command) =>
    printPin(io, cmd, opts, (client, scope) =>
      'fleet' in scope ? client.fleetOs(scope.fleet) : client.deviceOs(scope.device),
    ),
  );
}

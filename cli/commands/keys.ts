// `skiff keys list|create|revoke`: a fleet's provisioning keys, one per installer batch if you like. A new key goes
// to stdout alone, so `KEY=$(skiff keys create meters)` works; everything for the person watching goes to stderr.
import type { Command } from 'commander';
import type { ProvisioningKey } from '../../protocol/provisioning-keys.js';
import { renderTable, toJson, utcTime } from '../views/output.js';
import { clientFor, type Io } from '../session.js';
import { fleetName, kinds, label, recordId, wholeNumber } from '../options/kinds.js';

function stateOf(key: ProvisioningKey, now: Date): string {
  if (key.revokedAt !== null) return `revoked ${utcTime(key.revokedAt)}`;
  if (key.expiresAt !== null && Date.parse(key.expiresAt) <= now.getTime()) return `expired ${utcTime(key.expiresAt)}`;
  return 'valid';
}

function keysTable(keys: ProvisioningKey[], now: Date): string {
  return renderTable(
    ['ID', 'LABEL', 'CREATED BY', 'CREATED', 'EXPIRES', 'STATE'],
    keys.map((k) => [
      k.id,
      k.label,
      k.createdBy,
      utcTime(k.createdAt),
      k.expiresAt === null ? 'never' : utcTime(k.expiresAt),
      stateOf(k, now),
    ]),
  );
}

export function registerKeys(program: Command, io: Io): void {
  const keys = program.command('keys').description("list, create or revoke a fleet's provisioning keys (operator)");

  kinds(
    keys
      .command('list <fleet>')
      .description("list a fleet's provisioning keys; their secrets are never shown again")
      .option('--json', 'print JSON instead of a table'),
    { '<fleet>': fleetName },
  ).action(async (fleet: string, opts: { json?: boolean }, cmd: Command) => {
    const found = await (await clientFor(cmd, io)).listProvisioningKeys(fleet);
    io.stdout(
      opts.json
        ? toJson(found)
        : found.length === 0
          ? `Fleet ${fleet} has no provisioning keys.\n`
          : keysTable(found, io.now()),
    );
  });

  kinds(
    keys
      .command('create <fleet>')
      .description('create a provisioning key for the fleet and print it once')
      .option('--label <text>', 'what the key is for, e.g. an installer batch')
      .option('--expires-in-days <days>', 'after this many days the key admits no new devices')
      .option('--json', 'print JSON (including the key)'),
    { '<fleet>': fleetName, '--label': label, '--expires-in-days': wholeNumber(1, 3650) },
  ).action(async (fleet: string, opts: { label?: string; expiresInDays?: number; json?: boolean }, cmd: Command) => {
    const created = await (await clientFor(cmd, io)).createProvisioningKey(fleet, {
      ...(opts.label === undefined ? {} : { label: opts.label }),
      ...(opts.expiresInDays === undefined ? {} : { expiresInDays: opts.expiresInDays }),
    });
    io.stdout(opts.json ? toJson(created) : `${created.key}\n`);
    const until = created.expiresAt === null ? '' : `, valid until ${utcTime(created.expiresAt)}`;
    io.stderr(
      `Provisioning key ${created.id} created for fleet ${created.fleet}${until}. Store it now: it is not shown again.\n`,
    );
  });

  kinds(
    keys
      .command('revoke <fleet> <id>')
      .description('revoke a provisioning key by its id (see `skiff keys list FLEET`); devices it admitted stay')
      .option('--json', 'print JSON'),
    { '<fleet>': fleetName, '<id>': recordId },
  ).action(async (fleet: string, id: string, opts: { json?: boolean }, cmd: Command) => {
    const revoked = await (await clientFor(cmd, io)).revokeProvisioningKey(fleet, id);
    io.stdout(
      opts.json
        ? toJson(revoked)
        : `Provisioning key ${revoked.id} of fleet ${revoked.fleet} revoked at ${utcTime(revoked.revokedAt ?? '')}\n`,
    );
  });
}

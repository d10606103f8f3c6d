// `skiff tokens`, `skiff token create`, `skiff token revoke`: the API tokens of a user. A new token goes to stdout
// alone, so `TOKEN=$(skiff token create ci)` works; everything for the person watching goes to stderr.
import type { Command } from 'commander';
import type { ApiToken } from '../../protocol/access.js';
import { relativeTime, renderTable, toJson, utcTime } from '../views/output.js';
import { clientFor, type Io } from '../session.js';
import { kinds, label, recordId, userName } from '../options/kinds.js';

function tokensTable(tokens: ApiToken[], now: Date): string {
  return renderTable(
    ['ID', 'LABEL', 'CREATED', 'LAST USED', 'REVOKED'],
    tokens.map((t) => [
      t.id,
      t.label,
      utcTime(t.createdAt),
      relativeTime(t.lastUsedAt, now),
      t.revokedAt === null ? null : utcTime(t.revokedAt),
    ]),
  );
}

export function registerTokens(program: Command, io: Io): void {
  kinds(
    program
      .command('tokens <user>')
      .description("list a user's API tokens (admin, or the user themself); secrets are never shown again")
      .option('--json', 'print JSON instead of a table'),
    { '<user>': userName },
  ).action(async (user: string, opts: { json?: boolean }, cmd: Command) => {
    const tokens = await (await clientFor(cmd, io)).listTokens(user);
    io.stdout(
      opts.json
        ? toJson(tokens)
        : tokens.length === 0
          ? `User ${user} has no tokens.\n`
          : tokensTable(tokens, io.now()),
    );
  });

  const token = program.command('token').description('create or revoke API tokens');
  kinds(
    token
      .command('create <user>')
      .description('create an API token for a user (admin, or the user themself) and print it once')
      .option('--label <text>', 'what the token is for, e.g. ci or laptop')
      .option('--json', 'print JSON (including the token)'),
    { '<user>': userName, '--label': label },
  ).action(async (user: string, opts: { label?: string; json?: boolean }, cmd: Command) => {
    const created = await (await clientFor(cmd, io)).createToken(user, opts.label);
    if (opts.json) {
      io.stdout(toJson(created));
    } else {
      io.stdout(`${created.token}\n`);
    }
    io.stderr(`Token ${created.id} created for user ${created.user}. Store it now: it is not shown again.\n`);
  });

  kinds(
    token
      .command('revoke <user> <id>')
      .description("revoke one of a user's tokens by its id (see `skiff tokens USER`); it stops working at once")
      .option('--json', 'print JSON'),
    { '<user>': userName, '<id>': recordId },
  ).action(async (user: string, id: string, opts: { json?: boolean }, cmd: Command) => {
    const revoked = await (await clientFor(cmd, io)).revokeToken(user, id);
    io.stdout(
      opts.json
        ? toJson(revoked)
        : `Token ${revoked.id} of user ${revoked.user} revoked at ${utcTime(revoked.revokedAt ?? '')}\n`,
    );
  });
}

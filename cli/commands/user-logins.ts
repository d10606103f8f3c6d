// `skiff user password NAME` and `skiff user invite NAME`: how people get into the dashboard. The password is read
// from standard input (asked for twice, unechoed, on a terminal), never from the command line, where `ps` and the
// shell's history would show it. An invite is a one-time code the user sets their own password with at first login.
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../protocol/http/auth.js';
import { kinds, UsageError, userName } from '../options/kinds.js';
import { toJson } from '../views/output.js';
import { clientFor, type Io } from '../session.js';

/** One line typed at the terminal, not echoed. */
function askHidden(prompt: string, io: Io): Promise<string> {
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: process.stdin, output: silent, terminal: true });
  io.stderr(prompt);
  return new Promise((resolve) =>
    rl.question('', (answer) => {
      rl.close();
      io.stderr('\n');
      resolve(answer);
    }),
  );
}

async function readStdin(limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > limit)
      throw new UsageError(
        `the password on standard input is longer than ${limit} bytes`,
        '<password>',
        'skiff user password',
      );
    chunks.push(buffer);
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function readPassword(io: Io): Promise<string> {
  let password: string;
  if (process.stdin.isTTY) {
    password = await askHidden('New password: ', io);
    if ((await askHidden('Again: ', io)) !== password)
      throw new UsageError('the two passwords differ', '<password>', 'skiff user password');
  } else {
    password = await readStdin(4 * PASSWORD_MAX_LENGTH);
  }
  if (password.length < PASSWORD_MIN_LENGTH || password.length > PASSWORD_MAX_LENGTH)
    throw new UsageError(
      `the password has ${password.length} characters; it needs ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH}`,
      '<password>',
      'skiff user password',
    );
  return password;
}

export function registerUserLogins(user: Command, io: Io): void {
  kinds(
    user
      .command('password <name>')
      .description(
        "set a user's dashboard password (admin), read from standard input or asked for twice on a terminal; ends their browser sessions",
      )
      .option('--json', 'print JSON'),
    { '<name>': userName },
  ).action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
    const client = await clientFor(cmd, io);
    const password = await readPassword(io);
    const updated = await client.setPassword(name, password);
    io.stdout(
      opts.json ? toJson(updated) : `Password of ${updated.name} set; they log in at ${client.dashboardUrl()}\n`,
    );
  });

  kinds(
    user
      .command('invite <name>')
      .description('make a one-time code the user sets their own dashboard password with at first login (admin)')
      .option('--json', 'print JSON'),
    { '<name>': userName },
  ).action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
    const client = await clientFor(cmd, io);
    const invite = await client.inviteUser(name);
    io.stdout(
      opts.json
        ? toJson(invite)
        : `Invite code for ${invite.user}: ${invite.code}\nValid until ${invite.expiresAt}, once. They open ${client.dashboardUrl()}, choose "I have an invite code" and set a password.\n`,
    );
  });
}

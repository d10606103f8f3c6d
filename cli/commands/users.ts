// `skiff users`, `skiff user create`, `skiff whoami`: who may use the API, with which role.
import type { Command } from 'commander';
import { ROLES, type Role, type User } from '../../protocol/access.js';
import { kinds, role, userName } from '../options/kinds.js';
import { renderTable, toJson, utcTime } from '../views/output.js';
import { clientFor, type Io } from '../session.js';

function usersTable(users: User[]): string {
  return renderTable(
    ['NAME', 'ROLE', 'CREATED'],
    users.map((u) => [u.name, u.role, utcTime(u.createdAt)]),
  );
}

export function registerUsers(program: Command, io: Io): void {
  program
    .command('users')
    .description('list users and their roles (admin)')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const users = await (await clientFor(cmd, io)).listUsers();
      io.stdout(opts.json ? toJson(users) : users.length === 0 ? 'No users.\n' : usersTable(users));
    });

  program
    .command('whoami')
    .description('show the user and role of the token in use')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const me = await (await clientFor(cmd, io)).me();
      io.stdout(opts.json ? toJson(me) : `${me.name} (${me.role})\n`);
    });

  const user = program.command('user').description('create users');
  kinds(
    user
      .command('create <name>')
      .description(`create a user; roles: viewer (read), developer (push), operator (pin, devices), admin (all)`)
      .requiredOption('--role <role>', ROLES.join(' | '))
      .option('--json', 'print JSON'),
    { '<name>': userName, '--role': role },
  ).action(async (name: string, opts: { role: Role; json?: boolean }, cmd: Command) => {
    const created = await (await clientFor(cmd, io)).createUser({ name, role: opts.role });
    if (opts.json) {
      io.stdout(toJson(created));
      return;
    }
    io.stdout(`User ${created.name} created with role ${created.role}\n`);
    io.stderr(`hint: give them a token with \`skiff token create ${created.name}\`\n`);
  });
}

// `skiff users`, `skiff user create|grant|revoke|roles`, `skiff whoami`: who may use the API, with which role,
// globally and on single fleets (a fleet's grant replaces the global role there).
import type { Command } from 'commander';
import { ROLES, type FleetRole, type FleetRoles, type Role, type User } from '../../protocol/access.js';
import { fleetName, kinds, oneOf, role, userName } from '../options/kinds.js';
import { renderTable, toJson, utcTime } from '../views/output.js';
import { clientFor, type Io } from '../session.js';
import { registerUserLogins } from './user-logins.js';

/** A global role, or what a user without one has. */
const NO_GLOBAL_ROLE = 'none';
const globalRole = oneOf('role', [...ROLES, NO_GLOBAL_ROLE] as const);

function roleText(role: Role | null): string {
  return role ?? `${NO_GLOBAL_ROLE} (fleet roles only)`;
}

function fleetRolesText(fleetRoles: FleetRoles | undefined): string | null {
  const entries = Object.entries(fleetRoles ?? {});
  return entries.length === 0 ? null : entries.map(([fleet, r]) => `${fleet}: ${r}`).join(', ');
}

function usersTable(users: User[]): string {
  return renderTable(
    ['NAME', 'ROLE', 'FLEET ROLES', 'CREATED'],
    users.map((u) => [u.name, roleText(u.role), fleetRolesText(u.fleetRoles), utcTime(u.createdAt)]),
  );
}

function fleetRolesTable(grants: FleetRole[]): string {
  return renderTable(
    ['FLEET', 'ROLE', 'GRANTED BY', 'GRANTED'],
    grants.map((g) => [g.fleet, g.role, g.grantedBy, utcTime(g.grantedAt)]),
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
      const fleets = fleetRolesText(me.fleetRoles);
      io.stdout(opts.json ? toJson(me) : `${me.name} (${roleText(me.role)}${fleets === null ? '' : `; ${fleets}`})\n`);
    });

  const user = program.command('user').description('create users, grant them roles on fleets');
  kinds(
    user
      .command('create <name>')
      .description(
        'create a user; roles: viewer (read), developer (push), operator (pin, devices, approve), admin (all); ' +
          `${NO_GLOBAL_ROLE}: only the fleets granted with skiff user grant`,
      )
      .requiredOption('--role <role>', [...ROLES, NO_GLOBAL_ROLE].join(' | '))
      .option('--json', 'print JSON'),
    { '<name>': userName, '--role': globalRole },
  ).action(async (name: string, opts: { role: Role | typeof NO_GLOBAL_ROLE; json?: boolean }, cmd: Command) => {
    const created = await (await clientFor(cmd, io)).createUser({
      name,
      role: opts.role === NO_GLOBAL_ROLE ? null : opts.role,
    });
    if (opts.json) {
      io.stdout(toJson(created));
      return;
    }
    io.stdout(`User ${created.name} created with role ${roleText(created.role)}\n`);
    io.stderr(`hint: give them a token with \`skiff token create ${created.name}\`\n`);
  });

  kinds(
    user
      .command('grant <name>')
      .description("give a user a role on one fleet: there it replaces the user's global role (up or down)")
      .requiredOption('--fleet <fleet>', 'the fleet')
      .requiredOption('--role <role>', ROLES.join(' | '))
      .option('--json', 'print JSON'),
    { '<name>': userName, '--fleet': fleetName, '--role': role },
  ).action(async (name: string, opts: { fleet: string; role: Role; json?: boolean }, cmd: Command) => {
    const grant = await (await clientFor(cmd, io)).grantFleetRole(name, opts.fleet, opts.role);
    io.stdout(opts.json ? toJson(grant) : `User ${grant.user} is now ${grant.role} on fleet ${grant.fleet}\n`);
  });

  kinds(
    user
      .command('revoke <name>')
      .description("take a user's role on one fleet away: the global role applies there again")
      .requiredOption('--fleet <fleet>', 'the fleet')
      .option('--json', 'print JSON'),
    { '<name>': userName, '--fleet': fleetName },
  ).action(async (name: string, opts: { fleet: string; json?: boolean }, cmd: Command) => {
    const grant = await (await clientFor(cmd, io)).revokeFleetRole(name, opts.fleet);
    io.stdout(
      opts.json ? toJson(grant) : `User ${grant.user} no longer has a role of its own on fleet ${grant.fleet}\n`,
    );
  });

  kinds(
    user
      .command('roles <name>')
      .description("list a user's roles on single fleets")
      .option('--json', 'print JSON instead of a table'),
    { '<name>': userName },
  ).action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
    const grants = await (await clientFor(cmd, io)).listFleetRoles(name);
    io.stdout(
      opts.json ? toJson(grants) : grants.length === 0 ? `User ${name} has no fleet roles.\n` : fleetRolesTable(grants),
    );
  });

  registerUserLogins(user, io);
}

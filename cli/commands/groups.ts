// `skiff groups FLEET`, `skiff group create|show|delete`: a fleet's saved device selectors, usable as `group:NAME`
// wherever a selector is taken. And what the bulk forms of `skiff device pin|track-fleet|tag|revoke --filter` share:
// which fleet a selector is for, the refusal of an implicit "every device", and how their answer reads.
import type { Command } from 'commander';
import type { BulkResult, DeviceGroup } from '../../protocol/device-groups.js';
import { parseSelector } from '../../protocol/device-selector.js';
import { fleetName, groupName, kinds, selector, UsageError } from '../options/kinds.js';
import { printable, renderTable, toJson, utcTime } from '../views/output.js';
import { clientFor, type Io } from '../session.js';

function groupsTable(groups: DeviceGroup[]): string {
  return renderTable(
    ['NAME', 'SELECTOR', 'CREATED BY', 'CREATED'],
    groups.map((g) => [g.name, g.selector, g.createdBy, utcTime(g.createdAt)]),
  );
}

function groupText(group: DeviceGroup): string {
  const devices = group.devices === undefined ? '' : `, ${group.devices} device(s) now`;
  return printable(`Group ${group.name} of fleet ${group.fleet}: ${group.selector}${devices}`);
}

/** What a bulk command was given: `--filter`, `--all`, `--fleet`. */
export interface BulkOptions {
  filter?: string;
  all?: boolean;
  fleet?: string;
}

/**
 * The fleet and selector of a bulk command: the fleet is `--fleet`, else the selector's one `fleet:` term. Refuses
 * an empty selector without `--all`, and `--all` with a selector, as the API would, before asking it.
 */
export function bulkTarget(
  opts: BulkOptions,
  command: string,
): { fleet: string; request: { selector: string; all?: true } } {
  const text = opts.filter ?? '';
  const parsed = parseSelector(text);
  if (parsed.terms.length === 0 && opts.all !== true)
    throw new UsageError(
      `${command} needs --filter SELECTOR, or --all to act on every device of the fleet`,
      '--filter',
      command,
    );
  if (parsed.terms.length > 0 && opts.all === true)
    throw new UsageError(`${command}: --all and a --filter selector contradict each other: give one`, '--all', command);
  const named = parsed.terms.filter((t) => t.key === 'fleet' && !t.negated && t.values.length === 1);
  const fleet = opts.fleet ?? (named.length === 1 ? named[0]!.values[0] : undefined);
  if (fleet === undefined)
    throw new UsageError(
      `${command} acts on one fleet: give --fleet FLEET (or a fleet:NAME term in the selector)`,
      '--fleet',
      command,
    );
  return { fleet, request: { selector: parsed.text, ...(opts.all === true ? { all: true as const } : {}) } };
}

/** "pinned to 1.0.0: 3 of 5 devices of fleet meters that 'tag:north' selects changed (2 were already)". */
export function bulkText(done: string, result: BulkResult): string {
  const picked = result.selector === '' ? 'every device' : `'${result.selector}'`;
  const same = result.matched - result.changed;
  return `${printable(
    `${done}: ${result.changed} of ${result.matched} device(s) of fleet ${result.fleet} selected by ${picked} changed${
      same > 0 ? ` (${same} were so already)` : ''
    }`,
  )}\n`;
}

/** A destructive command without `--yes`: nothing is done, and CI (no stdin) needs the flag anyway. */
export function requireYes(yes: boolean | undefined, what: string, command: string): void {
  if (yes !== true) throw new UsageError(`${command} ${what}; add --yes to confirm`, '--yes', command);
}

export function registerGroups(program: Command, io: Io): void {
  kinds(
    program
      .command('groups <fleet>')
      .description("list a fleet's saved device groups (use them as group:NAME in any selector)")
      .option('--json', 'print JSON instead of a table'),
    { '<fleet>': fleetName },
  ).action(async (fleet: string, opts: { json?: boolean }, cmd: Command) => {
    const groups = await (await clientFor(cmd, io)).listGroups(fleet);
    io.stdout(
      opts.json ? toJson(groups) : groups.length === 0 ? `Fleet ${fleet} has no groups.\n` : groupsTable(groups),
    );
  });

  const group = program.command('group').description("create, show or delete a fleet's saved device group");
  kinds(
    group
      .command('create <fleet> <name> <selector>')
      .description("save a device selector as a group of the fleet, e.g. 'tag:region=north,type:raspberrypi4-64'")
      .option('--json', 'print JSON'),
    { '<fleet>': fleetName, '<name>': groupName, '<selector>': selector },
  ).action(async (fleet: string, name: string, text: string, opts: { json?: boolean }, cmd: Command) => {
    const created = await (await clientFor(cmd, io)).createGroup(fleet, { name, selector: text });
    io.stdout(opts.json ? toJson(created) : `${groupText(created)}\n`);
  });

  kinds(
    group
      .command('show <fleet> <name>')
      .description('show a group and how many devices it selects now')
      .option('--json', 'print JSON'),
    { '<fleet>': fleetName, '<name>': groupName },
  ).action(async (fleet: string, name: string, opts: { json?: boolean }, cmd: Command) => {
    const found = await (await clientFor(cmd, io)).getGroup(fleet, name);
    io.stdout(opts.json ? toJson(found) : `${groupText(found)}\n`);
  });

  kinds(group.command('delete <fleet> <name>').description('forget a saved group').option('--json', 'print JSON'), {
    '<fleet>': fleetName,
    '<name>': groupName,
  }).action(async (fleet: string, name: string, opts: { json?: boolean }, cmd: Command) => {
    const removed = await (await clientFor(cmd, io)).deleteGroup(fleet, name);
    io.stdout(
      opts.json ? toJson(removed) : `${printable(`Group ${removed.name} of fleet ${removed.fleet} deleted`)}\n`,
    );
  });
}

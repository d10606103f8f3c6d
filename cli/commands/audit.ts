// `skiff audit`: who changed what and when, newest first.
import type { Command } from 'commander';
import { AUDIT_MAX_LIMIT, type AuditEntry } from '../../protocol/access.js';
import type { AuditFilter } from '../api-client.js';
import { renderTable, toJson, truncate, utcTime } from '../views/output.js';
import { clientFor, type Io } from '../session.js';
import { deviceRef, fleetName, kinds, wholeNumber } from '../options/kinds.js';

const DETAIL_WIDTH = 60;

function auditTable(entries: AuditEntry[]): string {
  return renderTable(
    ['ID', 'AT', 'ACTOR', 'ACTION', 'TARGET', 'DETAIL'],
    entries.map((e) => [
      e.id,
      utcTime(e.at),
      e.actor,
      e.action,
      e.target,
      Object.keys(e.detail).length === 0 ? null : truncate(JSON.stringify(e.detail), DETAIL_WIDTH),
    ]),
  );
}

interface AuditOptions {
  fleet?: string;
  device?: string;
  limit?: number;
  before?: number;
  json?: boolean;
}

export function registerAudit(program: Command, io: Io): void {
  kinds(
    program
      .command('audit')
      .description('show the audit log, newest first (operator, admin)')
      .option('--fleet <name>', 'only changes concerning this fleet and its devices')
      .option('--device <uuid>', 'only changes to this device')
      .option('--limit <n>', `at most this many entries (default 100, at most ${AUDIT_MAX_LIMIT})`)
      .option('--before <id>', 'only entries older than this entry id (the next page)')
      .option('--json', 'print JSON instead of a table'),
    {
      '--fleet': fleetName,
      '--device': deviceRef,
      '--limit': wholeNumber(1, AUDIT_MAX_LIMIT),
      '--before': wholeNumber(1, Number.MAX_SAFE_INTEGER),
    },
  ).action(async (opts: AuditOptions, cmd: Command) => {
    const filter: AuditFilter = {
      ...(opts.fleet === undefined ? {} : { fleet: opts.fleet }),
      ...(opts.device === undefined ? {} : { device: opts.device }),
      ...(opts.limit === undefined ? {} : { limit: opts.limit }),
      ...(opts.before === undefined ? {} : { before: opts.before }),
    };
    const entries = await (await clientFor(cmd, io)).listAudit(filter);
    io.stdout(opts.json ? toJson(entries) : entries.length === 0 ? 'No audit entries.\n' : auditTable(entries));
  });
}

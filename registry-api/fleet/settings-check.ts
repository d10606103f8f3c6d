// What the schema cannot say about settings: a cron expression that cron-parser reads (five fields), time zones
// that exist (IANA names, as Intl knows them), bandwidth periods that are not empty. Issues carry JSON pointers
// into the request body, like schema issues, so a client can show where.
import { CronExpressionParser } from 'cron-parser';
import { RESERVED_CONFIG_PREFIX, type Settings } from '../../protocol/fleet-config.js';
import type { Issue } from '../../protocol/validate.js';

export function isIanaTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    // Intl also takes offsets such as "+01:00", which have no daylight saving rules: not what a window means.
    return /^[A-Za-z]/.test(name);
  } catch {
    return false;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function settingsIssues(settings: Settings): Issue[] {
  const issues: Issue[] = [];
  const window = settings.updateWindow;
  if (window) {
    const fields = window.cron.trim().split(/\s+/);
    if (fields.length !== 5) {
      issues.push({
        path: '/updateWindow/cron',
        message: `must have five fields (minute hour day-of-month month day-of-week), not ${fields.length}`,
      });
    } else {
      try {
        CronExpressionParser.parse(window.cron);
      } catch (err) {
        issues.push({ path: '/updateWindow/cron', message: `is not a cron expression: ${messageOf(err)}` });
      }
    }
    if (!isIanaTimeZone(window.timezone)) {
      issues.push({
        path: '/updateWindow/timezone',
        message: `'${window.timezone}' is not an IANA time zone (e.g. Europe/Amsterdam)`,
      });
    }
  }
  for (const [i, period] of (settings.bandwidthSchedule ?? []).entries()) {
    if (!isIanaTimeZone(period.timezone)) {
      issues.push({
        path: `/bandwidthSchedule/${i}/timezone`,
        message: `'${period.timezone}' is not an IANA time zone (e.g. Europe/Amsterdam)`,
      });
    }
    if (period.from === period.to)
      issues.push({
        path: `/bandwidthSchedule/${i}/to`,
        message: `equals 'from' (${period.from}): the period would be empty`,
      });
  }
  return issues;
}

/** Why `name` may not be a config var, or null. Syntax is the schema's job; this is the reserved prefix. */
export function reservedNameProblem(name: string): string | null {
  return name.toUpperCase().startsWith(RESERVED_CONFIG_PREFIX)
    ? `config var '${name}' starts with ${RESERVED_CONFIG_PREFIX}, which is reserved for what Skiff sets itself`
    : null;
}

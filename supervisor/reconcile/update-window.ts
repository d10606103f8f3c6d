// When a device may download and apply an update: the target's update window (a cron expression for the opening,
// a duration, a timezone), the operator's "update now" (forceUpdateUntil) and downloadOutsideWindow. Pure: the
// clock is an argument, so tests can walk through a day.
import { createRequire } from 'node:module';
import type { CronExpressionParser } from 'cron-parser';
import type { UpdateWindowReport } from '../../protocol/state-report.js';
import type { DeviceConfig } from '../../protocol/target-state.js';

export type WindowPhase =
  /** No window configured: always allowed. */
  | 'none'
  | 'open'
  | 'closed'
  /** Closed, but an operator's "update now" is in force. */
  | 'forced';

export interface WindowState {
  phase: WindowPhase;
  /** Downloads may run now. */
  downloadAllowed: boolean;
  /** Containers may be replaced now. */
  applyAllowed: boolean;
  /** When the current permission ends (window close or end of the forced period); null if it does not. */
  closesAt: Date | null;
  /** The next time the window opens; null without a window. */
  nextOpening: Date | null;
}

type Config = Pick<DeviceConfig, 'updateWindow' | 'forceUpdateUntil'>;

let cronParser: typeof CronExpressionParser | undefined;

/**
 * cron-parser (with luxon, some 6 MB resident) is loaded at the first window a device is given, not at start: most
 * devices never have one. It is CommonJS, so require keeps this module synchronous and pure.
 */
function parser(): typeof CronExpressionParser {
  cronParser ??= (createRequire(import.meta.url)('cron-parser') as typeof import('cron-parser')).CronExpressionParser;
  return cronParser;
}

function parseWindow(cron: string, timezone: string, now: Date): ReturnType<typeof CronExpressionParser.parse> {
  try {
    return parser().parse(cron, { currentDate: now, tz: timezone });
  } catch (err) {
    throw new Error(
      `update window cron '${cron}' (timezone ${timezone}) is invalid: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

export function updateWindowState(config: Config, now: Date): WindowState {
  const window = config.updateWindow;
  if (window === null)
    return { phase: 'none', downloadAllowed: true, applyAllowed: true, closesAt: null, nextOpening: null };
  const durationMs = window.durationMinutes * 60_000;
  // cron-parser's prev() is strictly before currentDate: look from one second later so the opening minute counts.
  const lastOpening = parseWindow(window.cron, window.timezone, new Date(now.getTime() + 1000))
    .prev()
    .toDate();
  const nextOpening = parseWindow(window.cron, window.timezone, now).next().toDate();
  const closesAt = new Date(lastOpening.getTime() + durationMs);
  if (lastOpening.getTime() <= now.getTime() && now.getTime() < closesAt.getTime()) {
    return { phase: 'open', downloadAllowed: true, applyAllowed: true, closesAt, nextOpening };
  }
  const forcedUntil = config.forceUpdateUntil == null ? null : new Date(config.forceUpdateUntil);
  if (forcedUntil !== null && now.getTime() < forcedUntil.getTime()) {
    return { phase: 'forced', downloadAllowed: true, applyAllowed: true, closesAt: forcedUntil, nextOpening };
  }
  return {
    phase: 'closed',
    downloadAllowed: window.downloadOutsideWindow === true,
    applyAllowed: false,
    closesAt: null,
    nextOpening,
  };
}

/** Milliseconds until the window state can next change (opening, closing or end of a forced period). */
export function msUntilChange(state: WindowState, now: Date): number | null {
  const times = [state.closesAt, state.nextOpening]
    .filter((d): d is Date => d !== null)
    .map((d) => d.getTime() - now.getTime());
  const future = times.filter((ms) => ms > 0);
  return future.length === 0 ? null : Math.min(...future);
}

/**
 * The steps of a plan the window lets run now: all when applying is allowed, only downloads when just downloading
 * is, none otherwise.
 */
export function stepsAllowed<T extends { kind: string }>(steps: T[], state: WindowState): T[] {
  if (state.applyAllowed) return steps;
  return state.downloadAllowed ? steps.filter((s) => s.kind === 'fetchImage') : [];
}

/** The window as the state report carries it. */
export function windowReport(state: WindowState): UpdateWindowReport {
  return {
    state: state.phase,
    downloadAllowed: state.downloadAllowed,
    applyAllowed: state.applyAllowed,
    closesAt: state.closesAt?.toISOString() ?? null,
    nextOpening: state.nextOpening?.toISOString() ?? null,
  };
}

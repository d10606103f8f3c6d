// The options that change settings, shared by `skiff fleet set` and `skiff device set`: poll interval, update
// window (cron, duration, time zone), bandwidth cap, lock override, metrics interval, data budget. Parsed here into the protocol's change; the
// API checks the rest (a cron it cannot read, a time zone that does not exist) and says where.
import type { Command } from 'commander';
import type { FleetSettings, FleetSettingsChange, Settings } from '../../protocol/fleet-config.js';
import { METRICS_INTERVAL_LIMITS, type DeviceConfig } from '../../protocol/target-state.js';
import { renderFields, utcTime, type Cell } from '../views/output.js';
import { bandwidthCap, cron, dataBudget, kinds, onOff, timeZone, UsageError, wholeNumber } from './kinds.js';

/** Seconds between polls, as the protocol bounds them. */
export const pollInterval = wholeNumber(1, 86_400);

export interface SettingsOptions {
  pollInterval?: number;
  window?: string;
  windowDuration?: number;
  windowTimezone?: string;
  downloadOutsideWindow?: boolean;
  clearWindow?: boolean;
  /** 'none': no cap. */
  bandwidthCap?: number | 'none';
  overrideLocks?: 'on' | 'off';
  metricsInterval?: number;
  /** 'none': no budget. */
  dataBudget?: number | 'none';
}

export function addSettingsOptions(cmd: Command): Command {
  return kinds(
    cmd
      .option('--poll-interval <seconds>', 'how often devices poll for their target state')
      .option('--window <cron>', "when the update window opens, five cron fields, e.g. '0 2 * * *'")
      .option('--window-duration <minutes>', 'how long the window stays open')
      .option('--window-timezone <zone>', 'IANA time zone of the window, e.g. Europe/Amsterdam')
      .option('--download-outside-window', 'download any time, apply only inside the window')
      .option('--clear-window', 'no update window: updates apply whenever they arrive')
      .option('--bandwidth-cap <bytesPerSecond>', "download cap in bytes per second, or 'none'")
      .option('--override-locks <on|off>', "ignore the services' update locks")
      .option('--metrics-interval <seconds>', 'how often devices report their metrics when nothing else changed')
      .option('--data-budget <bytes>', "bytes a device may use over its link per calendar month (UTC), or 'none'"),
    {
      '--poll-interval': pollInterval,
      '--window': cron,
      '--window-duration': wholeNumber(1, 1440),
      '--window-timezone': timeZone,
      '--bandwidth-cap': bandwidthCap,
      '--override-locks': onOff,
      '--metrics-interval': wholeNumber(METRICS_INTERVAL_LIMITS.minSeconds, METRICS_INTERVAL_LIMITS.maxSeconds),
      '--data-budget': dataBudget,
    },
  );
}

/** `change` itself, or an error when a `set` command was given nothing to change. */
export function someChange<T extends object>(change: T): T {
  if (Object.keys(change).length === 0) throw new UsageError('nothing to change: give at least one of the options');
  return change;
}

/** The change the options ask for; throws when they contradict each other or leave the window half given. */
export function settingsChangeOf(opts: SettingsOptions): FleetSettingsChange {
  const change: FleetSettingsChange = {};
  if (opts.pollInterval !== undefined) change.pollIntervalSeconds = opts.pollInterval;
  const windowParts = [opts.window, opts.windowDuration, opts.windowTimezone];
  if (opts.clearWindow) {
    if (windowParts.some((p) => p !== undefined))
      throw new UsageError(
        '--clear-window: cannot go with --window, --window-duration or --window-timezone',
        '--clear-window',
      );
    change.updateWindow = null;
  } else if (windowParts.some((p) => p !== undefined)) {
    if (opts.window === undefined || opts.windowDuration === undefined || opts.windowTimezone === undefined) {
      throw new UsageError(
        '--window: an update window needs all of --window, --window-duration and --window-timezone',
        '--window',
      );
    }
    change.updateWindow = {
      cron: opts.window,
      durationMinutes: opts.windowDuration,
      timezone: opts.windowTimezone,
      ...(opts.downloadOutsideWindow ? { downloadOutsideWindow: true } : {}),
    };
  } else if (opts.downloadOutsideWindow) {
    throw new UsageError(
      '--download-outside-window: belongs to a window; give --window, --window-duration and --window-timezone too',
      '--download-outside-window',
    );
  }
  if (opts.bandwidthCap !== undefined)
    change.bandwidthCapBytesPerSecond = opts.bandwidthCap === 'none' ? null : opts.bandwidthCap;
  if (opts.overrideLocks !== undefined) change.overrideLocks = opts.overrideLocks === 'on';
  if (opts.metricsInterval !== undefined) change.metricsIntervalSeconds = opts.metricsInterval;
  if (opts.dataBudget !== undefined)
    change.dataBudgetBytesPerMonth = opts.dataBudget === 'none' ? null : opts.dataBudget;
  return change;
}

function windowText(window: DeviceConfig['updateWindow'] | undefined): string | null {
  if (window === undefined) return null;
  if (window === null) return 'none (updates apply when they arrive)';
  return `'${window.cron}' for ${window.durationMinutes} min, ${window.timezone}${window.downloadOutsideWindow ? ', downloads any time' : ''}`;
}

function capText(cap: number | null | undefined): string | null {
  if (cap === undefined) return null;
  return cap === null ? 'none' : `${cap} B/s`;
}

/** The settings lines of `fleet show` and `device config`; undefined fields (inherited) show as "-". */
export function settingsFields(s: Settings | FleetSettings | DeviceConfig): Array<[string, Cell]> {
  return [
    ['Update window', windowText(s.updateWindow)],
    ['Bandwidth cap', capText(s.bandwidthCapBytesPerSecond)],
    [
      'Bandwidth schedule',
      s.bandwidthSchedule === undefined || s.bandwidthSchedule.length === 0
        ? null
        : s.bandwidthSchedule
            .map((p) => `${p.from}-${p.to} ${p.timezone}: ${capText(p.bytesPerSecond) ?? '-'}`)
            .join('; '),
    ],
    [
      'Update now until',
      s.forceUpdateUntil === undefined || s.forceUpdateUntil === null ? null : utcTime(s.forceUpdateUntil),
    ],
    ['Override locks', s.overrideLocks === undefined ? null : s.overrideLocks ? 'on' : 'off'],
    ['Metrics interval', s.metricsIntervalSeconds === undefined ? null : `${s.metricsIntervalSeconds}s`],
    [
      'Data budget',
      s.dataBudgetBytesPerMonth === undefined
        ? null
        : s.dataBudgetBytesPerMonth === null
          ? 'none'
          : `${s.dataBudgetBytesPerMonth} B/month`,
    ],
  ];
}

export function settingsText(s: Settings | FleetSettings | DeviceConfig): string {
  return renderFields(settingsFields(s));
}

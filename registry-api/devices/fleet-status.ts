// A fleet at a glance (protocol/fleet-status.ts), from its devices' summaries and last reports: pure, so the counts
// and each device's words are tested without an API.
import type { DeviceSummary } from '../../protocol/api.js';
import type { DeviceHealth, FleetStatus, FleetStatusDevice } from '../../protocol/fleet-status.js';
import type { StateReport } from '../../protocol/state-report.js';

export interface StatusInput {
  summary: DeviceSummary;
  report: StateReport | null;
  /** Release id to version, for the releases the device's services run. */
  versionOf: (releaseId: string) => string | null;
}

/** The worst of the device's services, by the supervisor's report. */
export function healthOf(report: StateReport | null): DeviceHealth {
  if (report === null) return 'unknown';
  if (report.services.some((s) => s.restartLoop === true)) return 'restart-loop';
  if (report.services.some((s) => s.health === 'unhealthy' || s.state === 'exited' || s.state === 'dead'))
    return 'unhealthy';
  if (report.services.some((s) => s.appHealth !== undefined && !s.appHealth.ok)) return 'app-unhealthy';
  return 'healthy';
}

/**
 * What runs, for a person: the release version when every service runs one, else each service with the version
 * it runs ("meter-reader 3, tunnel 4"), which is what a device shows midway through an update.
 */
export function runningOf(report: StateReport | null, versionOf: (releaseId: string) => string | null): string {
  if (report === null || report.services.length === 0) return '-';
  const versions = report.services.map((s) => (s.releaseId === null ? '?' : (versionOf(s.releaseId) ?? '?')));
  if (versions.every((v) => v === versions[0])) return versions[0]!;
  return report.services.map((s, i) => `${s.name} ${versions[i]}`).join(', ');
}

/** "02:00 Europe/Stockholm", with the day when it is not within the next 24 hours. */
export function openingText(nextOpening: string, timeZone: string | null, now: Date): string {
  const at = new Date(nextOpening);
  const zone = timeZone ?? 'UTC';
  let formatter: Intl.DateTimeFormat;
  const soon = at.getTime() - now.getTime() < 24 * 60 * 60 * 1000;
  const fields: Intl.DateTimeFormatOptions = soon
    ? { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }
    : { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  try {
    formatter = new Intl.DateTimeFormat('en-GB', { ...fields, timeZone: zone });
  } catch {
    // A zone this Node does not know (the device judged the window with its own zone data): say UTC instead.
    return `${new Intl.DateTimeFormat('en-GB', { ...fields, timeZone: 'UTC' }).format(at)} UTC`;
  }
  return `${formatter.format(at)} ${zone}`;
}

/**
 * The update status as people should read it: a device whose update waits for its window says so rather than
 * 'downloading' (which would look stuck), so does one waiting for its data budget.
 */
export function updateStateOf(summary: DeviceSummary, report: StateReport | null): string {
  const status = summary.updateStatus;
  if (status === null || report === null) return 'unknown';
  if (status === 'downloading' || status === 'applying' || status === 'pending') {
    const window = report.updateWindow;
    if (window !== undefined && window.state === 'closed' && !(status === 'downloading' && window.downloadAllowed))
      return 'waiting-window';
    if (report.deferred !== undefined) return 'waiting-budget';
  }
  return status;
}

export function activityOf(input: StatusInput, windowZone: string | null, now: Date): string {
  const { summary, report } = input;
  if (!summary.online) return summary.lastSeen === null ? 'never seen' : `offline since ${summary.lastSeen}`;
  if (report === null) return 'online, no report yet';
  if (report.localMode === true) return 'in local mode: runs a developer’s compose file';
  const state = updateStateOf(summary, report);
  if (state === 'waiting-window') {
    const opening = report.updateWindow?.nextOpening ?? null;
    return opening === null
      ? 'waiting for update window'
      : `waiting for update window, opens ${openingText(opening, windowZone, now)}`;
  }
  if (state === 'waiting-budget' && report.deferred !== undefined) return report.deferred.message;
  if (state === 'error') return `update failed: ${report.error ?? 'no reason given'}`;
  if (state === 'downloading') {
    const d = summary.download;
    return d === undefined
      ? `downloading ${summary.targetRelease ?? ''}`.trim()
      : `downloading ${summary.targetRelease ?? ''} ${d.percent}% (${d.source})`.replace('  ', ' ');
  }
  if (state === 'applying') return `applying ${summary.targetRelease ?? ''}`.trim();
  if (state === 'pending') return `told to run ${summary.targetRelease ?? '?'}, not reported yet`;
  if (report.rollback !== undefined) return `rolled back: ${report.rollback.reason}`;
  const health = healthOf(report);
  if (health !== 'healthy') {
    const names = report.services
      .filter(
        (s) => s.restartLoop === true || s.health === 'unhealthy' || (s.appHealth !== undefined && !s.appHealth.ok),
      )
      .map((s) => s.name);
    return `${health}: ${names.join(', ') || 'services stopped'}`;
  }
  return 'running';
}

function count(into: Record<string, number>, key: string): void {
  into[key] = (into[key] ?? 0) + 1;
}

/** Unhealthy first, then updating, then the rest; by name within each. */
function rank(device: FleetStatusDevice): number {
  if (device.health !== 'healthy' && device.health !== 'unknown') return 0;
  if (device.updateStatus !== 'converged') return 1;
  return 2;
}

export function fleetStatusOf(
  fleet: string,
  inputs: readonly StatusInput[],
  options: { windowZone: string | null; now: Date; limit: number },
): FleetStatus {
  const byRelease: Record<string, number> = {};
  const byUpdateStatus: Record<string, number> = {};
  const byHealth: Record<string, number> = {};
  const devices: FleetStatusDevice[] = [];
  let online = 0;
  for (const input of inputs) {
    const { summary, report } = input;
    if (summary.online) online += 1;
    const running =
      summary.runningRelease ?? (report === null ? '(none)' : report.services.length === 0 ? '(none)' : '(mixed)');
    count(byRelease, running);
    const state = updateStateOf(summary, report);
    count(byUpdateStatus, state);
    const health = healthOf(report);
    count(byHealth, health);
    devices.push({
      uuid: summary.uuid,
      shortId: summary.shortId ?? '',
      name: summary.name,
      online: summary.online,
      targetRelease: summary.targetRelease,
      runningRelease: summary.runningRelease,
      running: runningOf(report, input.versionOf),
      updateStatus: state,
      health,
      activity: activityOf(input, options.windowZone, options.now),
    });
  }
  devices.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name) || a.uuid.localeCompare(b.uuid));
  return {
    fleet,
    at: options.now.toISOString(),
    devices: inputs.length,
    online,
    offline: inputs.length - online,
    byRelease,
    byUpdateStatus,
    byHealth,
    deviceList: devices.slice(0, options.limit),
    more: Math.max(0, devices.length - options.limit),
  };
}

// How a device looks to people: online or not, what it should run and what it runs, how its update goes.
import { sameMeter, type DeviceSummary, type DownloadSummary } from '../../protocol/api.js';
import type { ImageDownload, StateReport } from '../../protocol/state-report.js';
import type { DeviceView, FleetRecord } from '../store/index.js';

/** A device that missed three polls in a row (plus slack for a slow network) counts as offline. */
const MISSED_POLLS = 3;
const SLACK_SECONDS = 30;

export function isOnline(lastSeen: string | null, pollIntervalSeconds: number, now: Date): boolean {
  if (lastSeen === null) return false;
  const ageMs = now.getTime() - Date.parse(lastSeen);
  return ageMs <= (MISSED_POLLS * pollIntervalSeconds + SLACK_SECONDS) * 1000;
}

/** The report's downloads as one figure, for a table row; undefined when none is in flight. */
export function downloadSummaryOf(downloads: readonly ImageDownload[] | undefined): DownloadSummary | undefined {
  if (downloads === undefined || downloads.length === 0) return undefined;
  const bytesDone = downloads.reduce((sum, d) => sum + d.bytesDone, 0);
  const bytesTotal = downloads.reduce((sum, d) => sum + d.bytesTotal, 0);
  return {
    source: downloads.some((d) => d.source === 'delta') ? 'delta' : 'full',
    bytesDone,
    bytesTotal,
    percent: Math.min(100, Math.floor((bytesDone / Math.max(1, bytesTotal)) * 1000) / 10),
  };
}

/** The device's data use this month (UTC) from its last report; undefined when it reported none for this month. */
export function dataUseOf(report: StateReport | null | undefined, now: Date): number | undefined {
  const traffic = report?.traffic;
  if (traffic === undefined || traffic.month !== now.toISOString().slice(0, 7)) return undefined;
  return Object.values(traffic.bytes).reduce((sum, pair) => sum + (pair?.[0] ?? 0) + (pair?.[1] ?? 0), 0);
}

/**
 * Whether the meter the device reads announces another serial than the one it was commissioned for; false while
 * either is unknown (not commissioned, or no reading reported yet).
 */
export function isWrongMeter(commissioned: string | null, report: StateReport | null | undefined): boolean {
  const announced = report?.meterSerial;
  return commissioned !== null && announced !== undefined && !sameMeter(commissioned, announced);
}

export interface SummaryFacts {
  device: DeviceView;
  fleet: FleetRecord;
  /** Version of the release the device should run. */
  targetVersion: string | null;
  /** Id of that release (null: none); a report about another target is not news of this one. */
  targetReleaseId: string | null;
  /** Version of the release the device reports running in full; null if mixed, unknown or not reported. */
  runningVersion: string | null;
  now: Date;
}

/**
 * What the device's last report says of its update, as people should read it: between a pin and the device's
 * first report on the new target, the report still speaks of the old one ("converged" with the old release),
 * which would say the pin is done. That time shows as 'pending'. An error always shows: a target the device
 * refused (bad signature, invalid) is reported against the release it keeps running, and is news of this target.
 */
export function updateStatusOf(device: DeviceView, targetReleaseId: string | null): string | null {
  const report = device.lastReport;
  if (report === null) return null;
  if (report.updateStatus === 'error' || report.targetReleaseId === targetReleaseId) return report.updateStatus;
  return 'pending';
}

export function summaryOf({
  device,
  fleet,
  targetVersion,
  targetReleaseId,
  runningVersion,
  now,
}: SummaryFacts): DeviceSummary {
  const download = downloadSummaryOf(device.lastReport?.downloads);
  const dataUseBytes = dataUseOf(device.lastReport, now);
  return {
    uuid: device.uuid,
    shortId: device.shortId,
    authStatus: device.authStatus,
    name: device.name,
    fleet: device.fleet,
    deviceType: device.deviceType,
    online: isOnline(device.lastSeen, fleet.pollIntervalSeconds, now),
    lastSeen: device.lastSeen,
    targetRelease: targetVersion,
    runningRelease: runningVersion,
    updateStatus: updateStatusOf(device, targetReleaseId),
    error: device.lastReport?.error ?? null,
    ...(download === undefined ? {} : { download }),
    ...(dataUseBytes === undefined ? {} : { dataUseBytes }),
    customer: device.customer,
    site: device.site,
    address: device.address,
    meterSerial: device.meterSerial,
    ...(device.lastReport?.meterSerial === undefined ? {} : { reportedMeterSerial: device.lastReport.meterSerial }),
    wrongMeter: isWrongMeter(device.meterSerial, device.lastReport),
  };
}

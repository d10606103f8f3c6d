// The people-facing renderings of the API's objects: which columns, in which order, how short.
import type { DeviceSummary, Fleet, Release, ReleasePolicy } from '../../protocol/api.js';
import type { DeviceType } from '../../protocol/device-types.js';
import type { DeviceDetail } from '../../protocol/device-detail.js';
import type { DeviceMetrics, ImageDownload, TrafficReport } from '../../protocol/state-report.js';
import type { ApprovalPolicy } from '../../protocol/release-review.js';
import { type Cell, formatBytes, relativeTime, renderFields, renderTable, truncate, utcTime } from './output.js';

const SHORT_UUID = 7;
/** Characters of a release id a table shows: unique in any fleet's history in practice, and accepted as a prefix. */
const RELEASE_ID_SHOWN = 8;
const ERROR_WIDTH = 40;

export function shortUuid(uuid: string): string {
  return uuid.slice(0, SHORT_UUID);
}

export function policyText(policy: ReleasePolicy): string {
  return policy.mode === 'latest' ? 'latest' : `pinned to ${policy.releaseId}`;
}

export function fleetsTable(fleets: Fleet[]): string {
  return renderTable(
    ['NAME', 'DEVICE TYPE', 'RELEASE POLICY', 'POLL', 'CREATED'],
    fleets.map((f) => [
      f.name,
      (f.deviceTypes ?? [f.deviceType]).join(', '),
      policyText(f.releasePolicy),
      `${f.pollIntervalSeconds}s`,
      utcTime(f.createdAt),
    ]),
  );
}

export function fleetDetail(fleet: Fleet): string {
  return renderFields([
    ['Name', fleet.name],
    ['Device types', (fleet.deviceTypes ?? [fleet.deviceType]).join(', ')],
    ['Platforms', fleet.platforms === undefined ? null : fleet.platforms.join(', ')],
    ['Release policy', policyText(fleet.releasePolicy)],
    ...(fleet.archivedAt === undefined || fleet.archivedAt === null
      ? []
      : ([
          [
            'Archived',
            `${utcTime(fleet.archivedAt)}: no new devices or releases (skiff fleet unarchive ${fleet.name})`,
          ],
        ] satisfies Array<[string, Cell]>)),
    ['Poll interval', `${fleet.pollIntervalSeconds}s`],
    // The API keeps keys hashed: only the answer that created the fleet carries its first key.
    [
      'Provisioning key',
      fleet.provisioningKey !== ''
        ? `${fleet.provisioningKey} (shown once: store it now)`
        : `not shown: keys are stored hashed (list: skiff keys list ${fleet.name}, new one: skiff keys create ${fleet.name})`,
    ],
    ...(fleet.review === undefined
      ? []
      : ([
          ['Approval', approvalPolicyText(fleet.review.approval)],
          [
            'Allowed host paths',
            fleet.review.allowedHostPaths.length === 0 ? 'none' : fleet.review.allowedHostPaths.join(', '),
          ],
        ] satisfies Array<[string, Cell]>)),
    [
      'Data use',
      fleet.dataUse === undefined
        ? null
        : `${formatBytes(fleet.dataUse.sent + fleet.dataUse.received)} in ${fleet.dataUse.month} ` +
          `(${formatBytes(fleet.dataUse.sent)} sent, ${formatBytes(fleet.dataUse.received)} received; ` +
          `${fleet.dataUse.devices} device${fleet.dataUse.devices === 1 ? '' : 's'} reported)`,
    ],
    ['Created', utcTime(fleet.createdAt)],
  ]);
}

/** A fleet's approval policy, said what it does. */
export function approvalPolicyText(policy: ApprovalPolicy): string {
  switch (policy) {
    case 'privileged':
      return 'privileged (releases asking for host privileges wait for an operator)';
    case 'always':
      return 'always (every release waits for an operator)';
    case 'never':
      return 'never (no release waits; review reasons are still recorded)';
  }
}

/** Where a release stands with its approval, for people: null when it needs none (or the API predates review). */
export function approvalText(release: Release): string | null {
  const review = release.review;
  if (review === undefined) return null;
  const reasons =
    review.reasons.length === 0
      ? ''
      : ` (${review.reasons.length} review reason${review.reasons.length === 1 ? '' : 's'})`;
  switch (review.approval) {
    case 'not-required':
      return null;
    case 'pending':
      return `pending approval${reasons}`;
    case 'approved':
      return `approved by ${review.decidedBy ?? 'unknown'}`;
    case 'rejected':
      return `rejected by ${review.decidedBy ?? 'unknown'}`;
  }
}

export function releasesTable(releases: Release[], now: Date = new Date()): string {
  return renderTable(
    // New columns go last: the columns before them stay where scripts and people know them.
    ['ID', 'VERSION', 'STATUS', 'PUSHED BY', 'CREATED', 'SERVICES', 'APPROVAL', 'PLATFORMS'],
    releases.map((r) => [
      // The start of the id, as git shows commits: every command takes a unique start (`--json` has the whole id).
      r.id.slice(0, RELEASE_ID_SHOWN),
      r.version,
      r.status === 'failed' && r.verification?.failure ? `failed (${r.verification.failure.service})` : r.status,
      r.pushedBy ?? null,
      `${utcTime(r.createdAt)} (${relativeTime(r.createdAt, now)})`,
      r.services.join(', '),
      approvalText(r),
      platformsText(r),
    ]),
  );
}

function reviewFields(release: Release): Array<[string, Cell]> {
  const review = release.review;
  if (review === undefined) return [];
  const fields: Array<[string, Cell]> = [['Approval', approvalText(release) ?? 'not needed']];
  if (review.decidedAt !== null) fields.push(['Decided', utcTime(review.decidedAt)]);
  if (review.note !== null) fields.push(['Decision note', review.note]);
  review.reasons.forEach((reason) => {
    fields.push(['Review reason', reason]);
  });
  return fields;
}

/** The platforms every image of a release has: what devices of which types can run it. */
function platformsText(release: Release): string | null {
  if (release.platforms === undefined || release.platforms === null) return null;
  return release.platforms.length === 0 ? 'none in common' : release.platforms.join(', ');
}

/** The device types Skiff knows and the platform each runs. */
export function deviceTypesTable(types: readonly DeviceType[]): string {
  return renderTable(
    ['DEVICE TYPE', 'PLATFORM', 'NAME'],
    types.map((t) => [t.slug, t.platform, t.name]),
  );
}

/** One release with its verification: what a failed one is missing, and where. */
export function releaseDetail(release: Release, now: Date = new Date()): string {
  const verification = release.verification;
  const verified =
    verification === undefined || verification === null
      ? release.status === 'pending'
        ? 'in progress'
        : null
      : verification.failure === null
        ? `every image found (${utcTime(verification.checkedAt)})`
        : `failed at ${utcTime(verification.checkedAt)}: service ${verification.failure.service}, image ${verification.failure.image}: ${verification.failure.reason}`;
  return `${renderFields([
    ['ID', release.id],
    ['Fleet', release.fleet],
    ['Version', release.version],
    ['Status', release.status],
    ['Verification', verified],
    ...reviewFields(release),
    ['Platforms', platformsText(release)],
    ['Pushed by', release.pushedBy ?? null],
    ['Created', `${utcTime(release.createdAt)} (${relativeTime(release.createdAt, now)})`],
    ['Notes', release.notes],
  ])}\n${renderTable(
    ['SERVICE', 'IMAGE', 'FROM'],
    // FROM: the reference the compose file wrote, where the push copied the image into the fleet's registry.
    Object.entries(release.images).map(([service, image]) => [service, image, release.sources?.[service] ?? null]),
  )}`;
}

/** online/offline for an admitted device; otherwise where its admission stands (pending, revoked...). */
export function deviceStatusText(d: DeviceSummary): string {
  if (d.revokedAt) return 'revoked';
  if (d.authStatus !== undefined && d.authStatus !== 'accepted') return d.authStatus;
  return d.online ? 'online' : 'offline';
}

/** The id people use: the short id of the label, or (from an older API) the start of the uuid. */
export function deviceId(d: Pick<DeviceSummary, 'uuid' | 'shortId'>): string {
  return d.shortId ?? shortUuid(d.uuid);
}

export function devicesTable(devices: DeviceSummary[], now: Date = new Date()): string {
  // The SITE column only once some device was commissioned (or reads a wrong meter): most lists are of lab devices.
  const sites = devices.some((d) => siteText(d) !== null);
  return renderTable(
    ['ID', 'NAME', 'FLEET', 'STATUS', 'TARGET', 'RUNNING', 'UPDATE', 'LAST SEEN', ...(sites ? ['SITE'] : []), 'ERROR'],
    devices.map((d) => [
      deviceId(d),
      d.name,
      d.fleet,
      deviceStatusText(d),
      d.targetRelease,
      d.runningRelease ?? d.running ?? null,
      updateText(d),
      relativeTime(d.lastSeen, now),
      ...(sites ? [siteText(d)] : []),
      d.error === null ? null : truncate(d.error, ERROR_WIDTH),
    ]),
  );
}

/** Whose box and where, as commissioned, and the wrong-meter flag; null when nothing of it is known. */
export function siteText(d: DeviceSummary): string | null {
  const where = [d.customer, d.site].filter((part): part is string => typeof part === 'string').join(', ');
  const flag = d.wrongMeter === true ? 'WRONG METER?' : '';
  const text = [where, flag].filter((part) => part !== '').join(' ');
  return text === '' ? null : truncate(text, ERROR_WIDTH);
}

/** The meter the device reads as it announces itself, and whether that is the commissioned one. */
function meterText(device: DeviceSummary): string | null {
  if (device.reportedMeterSerial === undefined) return null;
  if (device.wrongMeter === true)
    return `${device.reportedMeterSerial} (not the commissioned ${device.meterSerial ?? '?'}: connected to the wrong meter?)`;
  return device.meterSerial === null || device.meterSerial === undefined
    ? device.reportedMeterSerial
    : `${device.reportedMeterSerial} (the commissioned one)`;
}

/**
 * Each fleet's data use this month, summed over the devices that reported theirs; null when none did. Devices
 * that reported none are counted apart, so a total is not taken for more than it is.
 */
export function fleetDataUseText(devices: DeviceSummary[]): string | null {
  const fleets = new Map<string, { bytes: number; reporting: number; total: number }>();
  for (const d of devices) {
    const entry = fleets.get(d.fleet) ?? { bytes: 0, reporting: 0, total: 0 };
    entry.total += 1;
    if (d.dataUseBytes !== undefined) {
      entry.bytes += d.dataUseBytes;
      entry.reporting += 1;
    }
    fleets.set(d.fleet, entry);
  }
  const lines = [...fleets]
    .filter(([, e]) => e.reporting > 0)
    .map(
      ([fleet, e]) =>
        `Data use this month, fleet ${fleet}: ${formatBytes(e.bytes)} (${e.reporting} of ${e.total} devices reported theirs)`,
    );
  return lines.length === 0 ? null : `${lines.join('\n')}\n`;
}

/** The update status; while images come in, how far and how: "downloading 42% (delta)". */
export function updateText(d: Pick<DeviceSummary, 'updateStatus' | 'download'>): string | null {
  if (d.download === undefined) return d.updateStatus;
  return `downloading ${Math.floor(d.download.percent)}% (${d.download.source})`;
}

/** Per service: how much of its image is here, of how much, and whether as delta patches or whole layers. */
function downloadsTable(downloads: ImageDownload[]): string {
  return renderTable(
    ['SERVICE', 'SOURCE', 'BYTES', 'PERCENT', 'IMAGE'],
    downloads.flatMap((d) =>
      (d.services.length === 0 ? ['-'] : d.services).map((service) => [
        service,
        d.source,
        `${formatBytes(d.bytesDone)}/${formatBytes(d.bytesTotal)}`,
        `${d.percent.toFixed(1)}%`,
        d.image,
      ]),
    ),
  );
}

function metricsText(m: DeviceMetrics): string {
  const temperature = m.temperatureCelsius === null ? '' : `, ${m.temperatureCelsius.toFixed(1)} °C`;
  return (
    `cpu ${m.cpuPercent.toFixed(0)}%, memory ${formatBytes(m.memoryUsedBytes)}/${formatBytes(m.memoryTotalBytes)}, ` +
    `disk ${formatBytes(m.diskUsedBytes)}/${formatBytes(m.diskTotalBytes)}${temperature}`
  );
}

/** The device's data use this month, in all and by purpose (largest first), as it last reported it. */
function trafficText(traffic: TrafficReport): string {
  return `${bytesText(traffic.bytes)} in ${traffic.month}`;
}

/** Bytes in all, then by purpose, largest first: "12.3 kB (push 8.1 kB, polls 4.2 kB)". */
function bytesText(bytes: TrafficReport['bytes']): string {
  const parts = Object.entries(bytes)
    .map(([purpose, pair]) => [purpose, (pair?.[0] ?? 0) + (pair?.[1] ?? 0)] as const)
    .filter(([, bytes]) => bytes > 0)
    .sort((a, b) => b[1] - a[1]);
  const all = parts.reduce((sum, [, bytes]) => sum + bytes, 0);
  return `${formatBytes(all)} (${parts.map(([p, b]) => `${p} ${formatBytes(b)}`).join(', ')})`;
}

/** The data use the API recorded: a table of days, then of months, newest first. */
function dataUseTable(dataUse: NonNullable<DeviceDetail['dataUse']>): string {
  const rows = [...dataUse.days, ...dataUse.months].map((p) => [p.period, bytesText(p.bytes)]);
  return `Data use by day and month:\n${renderTable(['PERIOD', 'BYTES (BY PURPOSE)'], rows)}\n`;
}

export function deviceDetail(device: DeviceDetail, now: Date = new Date()): string {
  const report = device.lastReport;
  const lastSeen =
    device.lastSeen === null ? 'never' : `${utcTime(device.lastSeen)} (${relativeTime(device.lastSeen, now)})`;
  let text = renderFields([
    ['UUID', device.uuid],
    ['Short id', device.shortId ?? null],
    ['Name', device.name],
    ['Fleet', device.fleet],
    ['Device type', device.deviceType],
    ['Platform', device.platform ?? null],
    ['Status', deviceStatusText(device)],
    ['Tags', device.tags === undefined || device.tags.length === 0 ? null : device.tags.join(', ')],
    ['Note', device.note ?? null],
    ['Customer', device.customer ?? null],
    ['Site', device.site ?? null],
    ['Address', device.address ?? null],
    ['Meter serial', device.meterSerial ?? null],
    ['Meter reads', meterText(device)],
    ['Pinned release', device.pinnedRelease ?? null],
    ['Last seen', lastSeen],
    ['Target release', device.targetRelease],
    ['Held back', device.targetHeldBack ?? null],
    ['Running release', device.runningRelease],
    ['Update status', device.updateStatus],
    ['Error', device.error],
    ...(report === null
      ? []
      : ([
          ['Supervisor', report.supervisorVersion],
          ['OS', report.osVersion ?? null],
          ['Reported', `${utcTime(report.reportedAt)} (${relativeTime(report.reportedAt, now)})`],
          ['Metrics', report.metrics === undefined ? null : metricsText(report.metrics)],
          ['Data use', report.traffic === undefined ? null : trafficText(report.traffic)],
          ['Update deferred', report.deferred === undefined ? null : report.deferred.message],
        ] satisfies Array<[string, string | null]>)),
  ]);
  text += '\n';
  if (device.dataUse !== undefined) text += dataUseTable(device.dataUse);
  if (report === null) return `${text}No state report yet.\n`;
  if ((report.downloads ?? []).length > 0) text += `Downloading:\n${downloadsTable(report.downloads ?? [])}\n`;
  if (report.services.length === 0) return `${text}No services reported.\n`;
  return (
    text +
    renderTable(
      ['SERVICE', 'STATE', 'HEALTH', 'EXIT', 'RELEASE', 'CONTAINER', 'IMAGE'],
      report.services.map((s) => [
        s.name,
        s.state,
        s.health,
        s.exitCode,
        s.releaseId,
        s.containerId === null ? null : s.containerId.slice(0, 12),
        s.image,
      ]),
    )
  );
}

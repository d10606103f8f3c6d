// Publishing fleet events where things happen, after their change is committed: the words people read and the
// figures machines read, made in one place so the stream, webhooks and dashboard say the same thing.
import type { Logger } from '../../lib/logger.js';
import type { StateReport } from '../../protocol/state-report.js';
import type { DeviceRecord, ReleaseRecord, Store } from '../store/index.js';
import type { FleetEventBus } from './bus.js';
import { reportTransitions } from './report-events.js';

type DeviceNaming = Pick<DeviceRecord, 'uuid' | 'name' | 'fleet'> & { shortId?: string };

function deviceWords(device: DeviceNaming): string {
  return device.shortId === undefined ? `device ${device.name}` : `device ${device.name} (${device.shortId})`;
}

/** The events a device's new report means (events/report-events.ts), with release versions looked up. */
export async function publishReportEvents(
  events: FleetEventBus,
  store: Pick<Store, 'releases'>,
  device: DeviceNaming,
  before: StateReport | null,
  after: StateReport,
): Promise<void> {
  for (const transition of reportTransitions(before, after)) {
    const release = transition.releaseId === null ? null : await store.releases.get(transition.releaseId);
    const version = release === null ? (transition.releaseId ?? 'no release') : `release ${release.version}`;
    events.publish({
      kind: transition.kind,
      fleet: device.fleet,
      device: device.uuid,
      ...(transition.releaseId === null ? {} : { release: transition.releaseId }),
      summary: `${deviceWords(device)} ${transition.what} ${version}`.slice(0, 1024),
      detail: { ...transition.detail, ...(release === null ? {} : { version: release.version }) },
    });
  }
}

export function publishRegistered(events: FleetEventBus, device: DeviceNaming, how: string): void {
  events.publish({
    kind: 'device.registered',
    fleet: device.fleet,
    device: device.uuid,
    summary: `${deviceWords(device)} joined fleet ${device.fleet} (${how})`,
    detail: { how },
  });
}

export function publishDecommissioned(events: FleetEventBus, device: DeviceNaming, by: string): void {
  events.publish({
    kind: 'device.decommissioned',
    fleet: device.fleet,
    device: device.uuid,
    summary: `${deviceWords(device)} was revoked by ${by}`,
    detail: { by },
  });
}

export function publishReleaseCreated(events: FleetEventBus, release: ReleaseRecord): void {
  events.publish({
    kind: 'release.created',
    fleet: release.fleet,
    release: release.id,
    summary: `release ${release.version} of fleet ${release.fleet} was pushed${release.pushedBy === null ? '' : ` by ${release.pushedBy}`}`,
    detail: { version: release.version, status: release.status },
  });
}

/**
 * Announces the device online or offline if that changes what was announced last (store/presence.ts): of several
 * instances noticing the same change, one announces it.
 */
export async function announcePresence(
  events: FleetEventBus,
  store: Pick<Store, 'presence'>,
  device: DeviceNaming & { lastSeen: string | null },
  online: boolean,
  at: string,
  logger: Logger,
  why: string,
): Promise<void> {
  let changed: boolean;
  try {
    changed = await store.presence.set(device.uuid, online, at);
  } catch (err) {
    logger.warn({ err, uuid: device.uuid, online }, 'fleet events: cannot record whether a device is online');
    return;
  }
  if (!changed) return;
  events.publish({
    kind: online ? 'device.online' : 'device.offline',
    fleet: device.fleet,
    device: device.uuid,
    summary: online
      ? `${deviceWords(device)} is online (${why})`
      : `${deviceWords(device)} is offline (last seen ${device.lastSeen ?? 'never'})`,
    detail: { lastSeen: device.lastSeen, why },
  });
}

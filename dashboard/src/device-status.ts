// One word for where a device stands, the same on every page: the overview counts by it, the device list filters
// by it. Admission first (a pending device runs nothing of ours), then contact, then its update.
import type { DeviceSummary } from '../../protocol/api.js';
import type { Tone } from './components.js';

export const STATUSES = ['up to date', 'updating', 'error', 'offline', 'not admitted'] as const;
export type DeviceStatus = (typeof STATUSES)[number];

export function statusOf(device: DeviceSummary): DeviceStatus {
  if (device.authStatus !== undefined && device.authStatus !== 'accepted') return 'not admitted';
  if (!device.online) return 'offline';
  if (device.updateStatus === 'error' || device.error !== null) return 'error';
  if (
    device.runningRelease !== device.targetRelease ||
    device.updateStatus === 'downloading' ||
    device.updateStatus === 'applying'
  )
    return 'updating';
  return 'up to date';
}

export const STATUS_TONE: Readonly<Record<DeviceStatus, Tone>> = {
  'up to date': 'good',
  updating: 'info',
  error: 'bad',
  offline: 'warn',
  'not admitted': 'muted',
};

/** What the device list's search box matches: short id, uuid, name, tags, fleet. */
export function searchText(device: DeviceSummary): string {
  return [device.shortId, device.uuid, device.name, device.fleet, ...(device.tags ?? [])]
    .filter((part) => part !== undefined && part !== null)
    .join(' ')
    .toLowerCase();
}

// What a device selector (protocol/device-selector.ts) looks at, filled from the store: one function for the device
// listing, saved groups, bulk operations and rollouts, so a selector picks the same devices everywhere.
import {
  type DeviceAttributes,
  type DeviceSelector,
  groupsNamed,
  selects,
  withGroups,
  parseSelector,
} from '../../protocol/device-selector.js';
import type { StateReport } from '../../protocol/state-report.js';
import type { DeviceRecord, DeviceView, ReleaseRecord, Store } from '../store/index.js';
import { isOnline } from './summary.js';

/**
 * The attributes of `device` given its last report and whether it is online now. `running` is the release its
 * report says it runs (its version is what `release:` compares); absent, only the id can match.
 */
export function attributesOf(
  device: DeviceRecord,
  lastReport: StateReport | null,
  online: boolean,
  running: Pick<ReleaseRecord, 'id' | 'version'> | null = null,
): DeviceAttributes {
  const releaseId = lastReport?.releaseId ?? null;
  return {
    uuid: device.uuid,
    shortId: device.shortId,
    name: device.name,
    fleet: device.fleet,
    deviceType: device.deviceType,
    osVersion: lastReport?.osVersion ?? lastReport?.hostOs?.version ?? null,
    releaseId,
    releaseVersion: running !== null && running.id === releaseId ? running.version : null,
    tags: device.tags,
    customer: device.customer,
    site: device.site,
    online,
    updateStatus: lastReport?.updateStatus ?? null,
  };
}

/**
 * Matches devices against a selector with what the store knows: each fleet's poll interval (for online), the
 * versions of the releases they run, the fleet's saved groups, each read once however many devices share them.
 */
export function selectorMatcher(
  store: Pick<Store, 'fleets' | 'releases' | 'groups'>,
  selector: DeviceSelector,
  now: Date,
  /**
   * What a fleet without a group the selector names gets: 'refuse' throws SelectorError (an operation on one
   * fleet), 'none' selects none of its devices (a listing over several fleets, where a group is one fleet's).
   */
  missingGroup: 'refuse' | 'none' = 'refuse',
): (device: DeviceView) => Promise<boolean> {
  const fleets = new Map<string, Promise<{ poll: number; resolved: DeviceSelector | null }>>();
  const releases = new Map<string, Promise<ReleaseRecord | null>>();
  const fleetFacts = (name: string) => {
    let facts = fleets.get(name);
    if (!facts) {
      facts = (async () => {
        const fleet = await store.fleets.get(name);
        const groups = await store.groups.list(name);
        const saved = new Map(groups.map((g) => [g.name, g.selector]));
        // A stored group's text was parsed when it was saved; parsing it again can only fail if the grammar
        // narrowed since, and then it says so.
        const poll = fleet?.pollIntervalSeconds ?? 0;
        if (missingGroup === 'none' && groupsNamed(selector).some((group) => !saved.has(group)))
          return { poll, resolved: null };
        const resolved = withGroups(selector, (group) => {
          const text = saved.get(group);
          return text === undefined ? undefined : parseSelector(text);
        });
        return { poll, resolved };
      })();
      fleets.set(name, facts);
    }
    return facts;
  };
  const releaseOf = (id: string) => {
    let release = releases.get(id);
    if (!release) {
      release = store.releases.get(id);
      releases.set(id, release);
    }
    return release;
  };
  return async (device) => {
    const { poll, resolved } = await fleetFacts(device.fleet);
    if (resolved === null) return false;
    const runningId = device.lastReport?.releaseId ?? null;
    const running = runningId === null ? null : await releaseOf(runningId);
    const online = isOnline(device.lastSeen, poll, now);
    return selects(resolved, attributesOf(device, device.lastReport, online, running));
  };
}

/**
 * The devices of `fleet` that `selector` picks at `now` (any admission status; the caller narrows). Throws
 * SelectorError when it names a group the fleet does not have.
 */
export async function selectDevices(
  store: Pick<Store, 'fleets' | 'releases' | 'groups' | 'devices'>,
  fleet: string,
  selector: DeviceSelector,
  now: Date,
): Promise<DeviceView[]> {
  const matches = selectorMatcher(store, selector, now);
  const picked: DeviceView[] = [];
  for (const device of await store.devices.list({ fleet })) if (await matches(device)) picked.push(device);
  return picked;
}

/**
 * `selector` with the `group:` terms it names resolved against the saved groups of `fleet`. Throws SelectorError
 * when it names a group the fleet does not have (an operation on one fleet refuses it rather than picking nothing).
 */
export async function withFleetGroups(
  store: Pick<Store, 'groups'>,
  fleet: string,
  selector: DeviceSelector,
): Promise<DeviceSelector> {
  if (groupsNamed(selector).length === 0) return selector;
  const saved = new Map((await store.groups.list(fleet)).map((g) => [g.name, g.selector]));
  return withGroups(selector, (group) => {
    const text = saved.get(group);
    return text === undefined ? undefined : parseSelector(text);
  });
}

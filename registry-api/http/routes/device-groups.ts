// A fleet's saved groups (named selectors) and the operations on every device of a fleet a selector picks: pin,
// let follow the fleet, tag, revoke. A selector is parsed here (protocol/device-selector.ts) and a bad one is a 400
// naming the term and the keys allowed; `group:NAME` is resolved against the fleet's groups. An empty selector
// would pick the whole fleet: bulk operations take that only with `all: true`, so a forgotten filter never
// revokes a fleet.
import { MAX_DEVICE_TAGS } from '../../../protocol/api.js';
import { retagged, type BulkRequest, type BulkResult, type DeviceGroup } from '../../../protocol/device-groups.js';
import { groupsNamed, parseSelector, SelectorError, type DeviceSelector } from '../../../protocol/device-selector.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import { stampOf } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { selectDevices } from '../../devices/attributes.js';
import type { DeviceGroupRecord } from '../../store/device-groups.js';
import type { DeviceView, FleetRecord } from '../../store/index.js';
import { badRequest, conflict, notFound } from '../problem.js';
import type { Register } from '../register.js';
import { fleetOr404, refuseUnapproved, refuseUnready } from './fleets.js';

/** `text` parsed, or the 400 that says what is wrong with it (`path`: where in the request it was). */
export function selectorOr400(text: string, path: string): DeviceSelector {
  try {
    return parseSelector(text);
  } catch (err) {
    if (err instanceof SelectorError)
      throw badRequest('invalid-selector', err.message, [{ path, message: err.detail }]);
    throw err;
  }
}

/** Runs `pick`, answering a selector that names a group the fleet lacks with a 400. */
export async function pickedOr400<T>(pick: () => Promise<T>, path: string): Promise<T> {
  try {
    return await pick();
  } catch (err) {
    if (err instanceof SelectorError)
      throw badRequest('invalid-selector', err.message, [{ path, message: err.detail }]);
    throw err;
  }
}

function groupView(group: DeviceGroupRecord, devices?: number): DeviceGroup {
  return {
    fleet: group.fleet,
    name: group.name,
    selector: group.selector,
    createdBy: group.createdBy,
    createdAt: group.createdAt,
    ...(devices === undefined ? {} : { devices }),
  };
}

export function deviceGroupRoutes(on: Register, deps: RouteDeps): void {
  const { store, logger } = deps;

  const countOf = async (fleet: string, selector: string): Promise<number> =>
    (await pickedOr400(() => selectDevices(store, fleet, parseSelector(selector), deps.now()), '/selector')).length;

  on(ROUTES.listGroups, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    ctx.body = (await store.groups.list(fleet.name)).map((group) => groupView(group));
  });

  on(ROUTES.createGroup, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const body = await request.body();
    const selector = selectorOr400(body.selector, '/selector');
    if (selector.terms.length === 0)
      throw badRequest('invalid-selector', `the group '${body.name}' needs a selector with at least one term`, [
        { path: '/selector', message: 'is empty: a group of every device is the fleet itself' },
      ]);
    const nested = groupsNamed(selector);
    if (nested.length > 0)
      throw badRequest(
        'invalid-selector',
        `the group '${body.name}' names the group '${nested[0]}': saved groups cannot name other groups; write out its terms`,
        [{ path: '/selector', message: 'names a group' }],
      );
    const group = await store.groups.create(
      { fleet: fleet.name, name: body.name, selector: selector.text },
      stampOf(ctx, deps.now),
    );
    logger.info({ fleet: fleet.name, group: group.name, selector: group.selector }, 'device group created');
    ctx.status = 201;
    ctx.body = groupView(group, await countOf(fleet.name, group.selector));
  });

  const groupOr404 = async (fleet: string, name: string): Promise<DeviceGroupRecord> => {
    const group = await store.groups.get(fleet, name);
    if (!group) throw notFound(`fleet '${fleet}' has no group '${name}'`);
    return group;
  };

  on(ROUTES.getGroup, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const group = await groupOr404(fleet.name, request.params.group);
    ctx.body = groupView(group, await countOf(fleet.name, group.selector));
  });

  on(ROUTES.deleteGroup, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    await groupOr404(fleet.name, request.params.group);
    const removed = await store.groups.remove(fleet.name, request.params.group, stampOf(ctx, deps.now));
    if (!removed) throw notFound(`fleet '${fleet.name}' has no group '${request.params.group}'`);
    logger.info({ fleet: fleet.name, group: removed.name }, 'device group deleted');
    ctx.body = groupView(removed);
  });

  /** The fleet and the devices of it the request's selector picks, refusing an implicit "every device". */
  const picked = async (
    fleetName: string,
    body: BulkRequest,
    what: string,
  ): Promise<{ fleet: FleetRecord; selector: DeviceSelector; devices: DeviceView[] }> => {
    const fleet = await fleetOr404(store.fleets, fleetName);
    const selector = selectorOr400(body.selector, '/selector');
    if (selector.terms.length === 0 && body.all !== true)
      throw badRequest(
        'empty-selector',
        `${what} with an empty selector would act on every device of fleet '${fleet.name}'; give a selector, or all: true (skiff: --all) to mean every device`,
        [{ path: '/selector', message: 'is empty and all is not true' }],
      );
    if (selector.terms.length > 0 && body.all === true)
      throw badRequest(
        'invalid-body',
        `${what} has both a selector and all: true; give one: the selector, or all: true with an empty selector`,
        [{ path: '/all', message: 'true with a selector' }],
      );
    const devices = await pickedOr400(() => selectDevices(store, fleet.name, selector, deps.now()), '/selector');
    return { fleet, selector, devices };
  };

  const answer = (fleet: string, selector: DeviceSelector, matched: number, changed: number): BulkResult => ({
    fleet,
    selector: selector.text,
    matched,
    changed,
  });

  on(ROUTES.bulkPin, async (ctx, request) => {
    const body = await request.body();
    const { fleet, selector, devices } = await picked(request.params.fleet, body, 'the bulk pin');
    const release = await store.releases.find(fleet.name, body.release);
    if (!release) throw notFound(`fleet '${fleet.name}' has no release with id or version '${body.release}'`);
    const who = `the devices of fleet '${fleet.name}' that '${selector.text}' selects`;
    refuseUnready(release, who);
    refuseUnapproved(release, who);
    const facts = { fleet: fleet.name, selector: selector.text, matched: devices.length };
    const changed = await store.bulk.setPins(
      facts,
      devices.map((d) => d.uuid),
      { id: release.id, version: release.version },
      stampOf(ctx, deps.now),
    );
    logger.info({ ...facts, changed, release: release.version }, 'devices pinned by selector');
    ctx.body = answer(fleet.name, selector, devices.length, changed);
  });

  on(ROUTES.bulkTrackFleet, async (ctx, request) => {
    const body = await request.body();
    const { fleet, selector, devices } = await picked(request.params.fleet, body, 'the bulk track-fleet');
    const facts = { fleet: fleet.name, selector: selector.text, matched: devices.length };
    const changed = await store.bulk.setPins(
      facts,
      devices.map((d) => d.uuid),
      null,
      stampOf(ctx, deps.now),
    );
    logger.info({ ...facts, changed }, 'devices follow their fleet by selector');
    ctx.body = answer(fleet.name, selector, devices.length, changed);
  });

  on(ROUTES.bulkRevoke, async (ctx, request) => {
    const body = await request.body();
    const { fleet, selector, devices } = await picked(request.params.fleet, body, 'the bulk revoke');
    const facts = { fleet: fleet.name, selector: selector.text, matched: devices.length };
    const changed = await store.bulk.revoke(
      facts,
      devices.map((d) => d.uuid),
      stampOf(ctx, deps.now),
    );
    logger.info({ ...facts, changed }, 'devices revoked by selector');
    ctx.body = answer(fleet.name, selector, devices.length, changed);
  });

  on(ROUTES.bulkTag, async (ctx, request) => {
    const body = await request.body();
    const add = body.add ?? [];
    const remove = body.remove ?? [];
    if (add.length === 0 && remove.length === 0)
      throw badRequest('invalid-body', 'the bulk tag adds and removes nothing: give add, remove or both', [
        { path: '/add', message: 'missing or empty, and so is remove' },
      ]);
    const { fleet, selector, devices } = await picked(request.params.fleet, body, 'the bulk tag');
    const tags = new Map(devices.map((d) => [d.uuid, retagged(d.tags, add, remove)]));
    const over = devices.find((d) => (tags.get(d.uuid)?.length ?? 0) > MAX_DEVICE_TAGS);
    if (over)
      throw conflict(
        `device '${over.uuid}' would have ${tags.get(over.uuid)?.length ?? 0} tags; a device has at most ${MAX_DEVICE_TAGS}: nothing was changed`,
      );
    const facts = { fleet: fleet.name, selector: selector.text, matched: devices.length };
    const changed = await store.bulk.setTags(facts, tags, { add, remove }, stampOf(ctx, deps.now));
    logger.info({ ...facts, changed, add, remove }, 'devices tagged by selector');
    ctx.body = answer(fleet.name, selector, devices.length, changed);
  });
}

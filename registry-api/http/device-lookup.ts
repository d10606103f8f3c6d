// The device a person names in a path: its uuid, its short id (as printed on its label), or a unique prefix of
// either of at least MIN_PREFIX_LENGTH characters, as with git's abbreviated commits. A prefix that fits several
// devices is refused, naming them, rather than resolved to one: an operator's revoke must never reach a device they
// did not mean (a decoy registered to share a prefix only makes the prefix ambiguous, never the winner).
import type { DeviceView, Store } from '../store/index.js';
import { MIN_PREFIX_LENGTH, prefixesOf } from '../devices/short-id.js';
import { conflict, notFound } from './problem.js';

/** How many of the devices a prefix fits are named in the refusal. */
const NAMED = 5;

export async function deviceNamed(store: Store, given: string): Promise<DeviceView> {
  const exact = await store.devices.get(given);
  if (exact) return exact;
  const shown = JSON.stringify(given.slice(0, 64));
  const prefix = prefixesOf(given);
  const fits = await store.devices.withPrefix(prefix, NAMED + 1);
  if (fits.length === 1 && fits[0]) return fits[0];
  if (fits.length > 1) {
    const named = fits.slice(0, NAMED).map((d) => `${d.shortId} (${d.uuid})`);
    throw conflict(
      `${shown} is the start of the short id or uuid of ${fits.length > NAMED ? `more than ${NAMED}` : fits.length} devices: ${named.join(', ')}; type more of the one you mean`,
    );
  }
  throw notFound(
    `no device has the uuid or short id ${shown}${prefix.shortId === null && prefix.uuid === null ? '' : ', nor one starting with it'} (a prefix needs at least ${MIN_PREFIX_LENGTH} characters)`,
  );
}

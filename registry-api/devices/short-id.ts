// The short id printed on a device's label: 8 characters of Crockford base32 (no I, L, O, U: nothing to misread),
// derived from the uuid so the same device always gets the same one. 40 bits make a clash rare, not impossible:
// the store tries the next `attempt` until the id is free, so it is unique per device.
import { createHash } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const SHORT_ID_LENGTH = 8;

export function shortIdOf(uuid: string, attempt = 0): string {
  const digest = createHash('sha256')
    .update(attempt === 0 ? uuid : `${uuid}#${attempt}`)
    .digest();
  // 8 characters of 5 bits: the first 40 bits of the digest.
  let bits = digest.readUIntBE(0, 5);
  let id = '';
  for (let i = 0; i < SHORT_ID_LENGTH; i++) {
    id = ALPHABET[bits % 32] + id;
    bits = Math.floor(bits / 32);
  }
  return id;
}

/**
 * The short id a person typed, as stored: upper case, without hyphens, with the letters Crockford base32 reads as
 * digits (I and L as 1, O as 0). Null if it cannot be a short id.
 */
export function normalizeShortId(typed: string): string | null {
  const id = asShortIdCharacters(typed);
  return id.length === SHORT_ID_LENGTH && [...id].every((c) => ALPHABET.includes(c)) ? id : null;
}

function asShortIdCharacters(typed: string): string {
  return typed.toUpperCase().replace(/-/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
}

/** The fewest characters a prefix must have: shorter ones name too many devices of a fleet to be of use. */
export const MIN_PREFIX_LENGTH = 4;

/**
 * What a typed prefix can be the start of, as stored: a short id (normalised as above) and/or a uuid (lower-case
 * hex and hyphens). Each is null when the text cannot start one; both null below MIN_PREFIX_LENGTH characters.
 * The results contain only letters, digits and hyphens, so they are safe in a LIKE pattern.
 */
export function prefixesOf(typed: string): { shortId: string | null; uuid: string | null } {
  const text = typed.trim();
  const shortId = asShortIdCharacters(text);
  const uuid = text.toLowerCase();
  return {
    shortId:
      shortId.length >= MIN_PREFIX_LENGTH &&
      shortId.length < SHORT_ID_LENGTH &&
      [...shortId].every((c) => ALPHABET.includes(c))
        ? shortId
        : null,
    uuid: uuid.replace(/-/g, '').length >= MIN_PREFIX_LENGTH && /^[0-9a-f-]{1,35}$/.test(uuid) ? uuid : null,
  };
}

// The API's secrets: provisioning keys, device tokens, API tokens, the admin token. Random, URL-safe, compared in
// constant time; tokens are kept only as their sha256, so a leaked database does not let anyone act as a device.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Equal secrets, without the comparison time telling how long a common prefix is. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());
}

// Passwords as scrypt strings: `scrypt$<log2 N>$<r>$<p>$<salt>$<key>` (base64url), so the cost can rise later
// and old hashes still verify. scrypt because it is memory-hard (an attacker with a stolen database pays 128 MiB
// per guess, which rules out cheap GPU and ASIC farms) and ships with Node (node:crypto): no native module to
// build. N = 2^17, r = 8, p = 1 is OWASP's recommended minimum for scrypt; one hash takes a few hundred
// milliseconds of one core, which is why login attempts are rate-limited and hashed at most two at a time.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const LOG2_N = 17;
const R = 8;
const P = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** At most this many hashes at once: each holds 128 MiB while it runs. */
const MAX_CONCURRENT = 2;
/** Waiting beyond this is refused rather than queued: a burst must not hold the API's memory. */
const MAX_WAITING = 32;

export class PasswordHasherBusy extends Error {
  constructor() {
    super(`${MAX_CONCURRENT} password hashes are running and ${MAX_WAITING} waiting`);
    this.name = 'PasswordHasherBusy';
  }
}

let running = 0;
const waiting: Array<() => void> = [];

async function slot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT) {
    if (waiting.length >= MAX_WAITING) throw new PasswordHasherBusy();
    await new Promise<void>((resolve) => waiting.push(resolve));
  }
  running += 1;
  try {
    return await work();
  } finally {
    running -= 1;
    waiting.shift()?.();
  }
}

function derive(password: string, salt: Buffer, log2n: number, r: number, p: number): Promise<Buffer> {
  const options: ScryptOptions = { N: 2 ** log2n, r, p, maxmem: 2 * 128 * 2 ** log2n * r };
  return slot(
    () =>
      new Promise<Buffer>((resolve, reject) =>
        scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))),
      ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, LOG2_N, R, P);
  return ['scrypt', LOG2_N, R, P, salt.toString('base64url'), key.toString('base64url')].join('$');
}

const STORED = /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{1,64})\$([A-Za-z0-9_-]{1,128})$/;

/** Whether `password` is the one `stored` was made from; an unreadable `stored` is an error (a corrupt row). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const match = STORED.exec(stored);
  if (!match) throw new Error('a stored password hash is not of the form scrypt$logN$r$p$salt$key');
  const [, log2n, r, p, salt, key] = match;
  const expected = Buffer.from(key!, 'base64url');
  const derived = await derive(password, Buffer.from(salt!, 'base64url'), Number(log2n), Number(r), Number(p));
  return derived.length === expected.length && timingSafeEqual(derived, expected);
}

/**
 * Spends what a real verification costs, for a user without a password: the answer's timing must not tell which
 * user names exist.
 */
let decoy: Promise<string> | null = null;
export async function verifyNothing(password: string): Promise<false> {
  decoy ??= hashPassword('no user has this password');
  await verifyPassword(password, await decoy);
  return false;
}

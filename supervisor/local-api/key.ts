// The local API's key: made once, kept in the data dir readable by root only. Whoever may read it (root on the
// device, or a service given it on purpose) may drive the supervisor; nobody else on the LAN or the device can.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../device/atomic-file.js';

export const LOCAL_API_KEY_FILE = 'local-api.key';

export async function localApiKey(dataDir: string): Promise<string> {
  const file = path.join(dataDir, LOCAL_API_KEY_FILE);
  try {
    const key = (await readFile(file, 'utf8')).trim();
    if (key.length >= 32) return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new Error(`cannot read the local API key ${file}: ${String(err)}`, { cause: err });
  }
  const key = randomBytes(32).toString('base64url');
  await writeFileAtomic(file, `${key}\n`, 0o600);
  return key;
}

export function sameKey(given: string, key: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

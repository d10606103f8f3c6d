// The admin token when none is configured: generated at first start into DATA_DIR/admin-token (mode 0600, only
// the API's user reads it) and reused on every later start, so scripts and the CLI keep working across restarts.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { newSecret } from './secrets.js';

export interface AdminToken {
  token: string;
  /** Where it came from, for the start-up log (never the token itself). */
  source: 'environment' | 'file' | 'generated';
  file: string | null;
}

export function adminTokenOf(dataDir: string, configured: string | null): AdminToken {
  if (configured !== null) return { token: configured, source: 'environment', file: null };
  const file = path.join(dataDir, 'admin-token');
  try {
    // 'wx': if two starts race, exactly one creates the file and the other reads it.
    const token = newSecret();
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
    return { token, source: 'generated', file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new Error(`cannot create the admin token file ${file}: ${(err as Error).message}`);
    }
  }
  const token = readFileSync(file, 'utf8').trim();
  if (token === '') throw new Error(`the admin token file ${file} is empty: delete it to have a new token generated`);
  return { token, source: 'file', file };
}

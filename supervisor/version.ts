// The supervisor's version is the package's: read once from package.json next to dist/.
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    // Run from an unusual layout: the version is informational, not worth failing over.
    return 'unknown';
  }
}

export const SUPERVISOR_VERSION = readVersion();

// Which database a test's store lives in: SQLite in the test's data dir by default, PostgreSQL (a fresh database
// in the environment's server) with SKIFF_TEST_STORE=postgres, so the same API suites run against both.
import path from 'node:path';
import { scratchPostgresDatabase } from './postgres.js';

export type TestStoreKind = 'sqlite' | 'postgres';

export function testStoreKind(): TestStoreKind {
  const kind = process.env.SKIFF_TEST_STORE ?? 'sqlite';
  if (kind !== 'sqlite' && kind !== 'postgres')
    throw new Error(`SKIFF_TEST_STORE is '${kind}': say sqlite or postgres`);
  return kind;
}

export interface TestStoreLocation {
  /** What openStore takes: a file path or a postgres:// URL. Open it as often as the test likes. */
  location: string;
  /** Drops the PostgreSQL database; a SQLite file goes with its data dir. */
  dispose(): Promise<void>;
}

/** `file`: the SQLite file's name in `dataDir`, for a test that keeps a second database next to the first. */
export async function testStoreLocation(dataDir: string, file = 'skiff.db'): Promise<TestStoreLocation> {
  if (testStoreKind() === 'sqlite') return { location: path.join(dataDir, file), dispose: async () => undefined };
  const scratch = await scratchPostgresDatabase('skiff_api');
  return { location: scratch.url, dispose: () => scratch.drop() };
}

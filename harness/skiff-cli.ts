// The `skiff` CLI run in-process, as the API's admin, the way an operator types it: the tests check what it
// prints. Commander's exit is turned into a thrown error so a failing command fails the test.
import { buildProgram } from '../cli/program.js';
import type { Io } from '../cli/session.js';
import type { ApiServer } from './api-server.js';

/** Runs `skiff ...args` against `api` with its admin token and returns what it printed on stdout. */
export async function skiff(api: ApiServer, ...args: string[]): Promise<string> {
  let out = '';
  const io: Io = {
    stdout: (text) => {
      out += text;
    },
    stderr: () => undefined,
    env: { SKIFF_API_URL: api.url, SKIFF_API_TOKEN: api.adminToken, HOME: api.dataDir },
    now: () => new Date(),
  };
  await buildProgram(io)
    .exitOverride()
    .parseAsync(['node', 'skiff', ...args]);
  return out;
}

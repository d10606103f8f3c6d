// A device cannot write into the operator's terminal. What it sends (its name, the error and service names of its
// state report) is shown by the `skiff` CLI, run here as its own process the way an operator runs it: escape
// sequences that would retitle the window or clear the screen, and CR/LF that would forge table rows, come out as
// visible escapes; --json still carries the exact text.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { DeviceDetail } from '../../protocol/device-detail.js';
import { paths } from '../../protocol/http/paths.js';
import type { StateReport } from '../../protocol/state-report.js';
import { ApiServer } from '../../harness/api-server.js';
import { TestDevice } from '../../harness/test-device.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

const TITLE = '\u001b]0;pwned\u0007';
const CLEAR = '\u001b[2J';
/** A name that, written raw, retitles the window, clears the screen and adds a row of its own. */
const NAME = `kitchen${TITLE}${CLEAR}\r\nFAKE0000   forged`;
const ERROR = `disk full${CLEAR}\r\nFAKE1111   forged   meters   online`;
const SERVICE = `web${TITLE}`;

/** ESC, BEL and CR: what must never reach the terminal from a device. */
function terminalControls(text: string): string[] {
  return [...text].filter((c) => c === '\u001b' || c === '\u0007' || c === '\r' || c === '\u009b');
}

describe('device text in the CLI', function () {
  this.timeout(60_000);
  let api: ApiServer;
  let hostile: TestDevice;
  let shortId: string;

  /** `skiff ...args` as a process; its stdout. */
  async function skiff(...args: string[]): Promise<string> {
    const { stdout } = await run(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: api.dataDir, SKIFF_API_URL: api.url, SKIFF_API_TOKEN: api.adminToken },
    });
    return stdout;
  }

  before(async () => {
    api = await ApiServer.start({ redisUrl: null });
    const fleet = await api.createFleet('meters');
    hostile = TestDevice.create(randomUUID());
    const admitted = await hostile.token(api.url, {
      fleet: 'meters',
      provisioningKey: fleet.provisioningKey,
      name: NAME,
    });
    shortId = admitted.shortId;
    await TestDevice.create(randomUUID()).token(api.url, {
      fleet: 'meters',
      provisioningKey: fleet.provisioningKey,
      name: 'shed',
    });
    const report: StateReport = {
      supervisorVersion: `1.0${CLEAR}`,
      updateStatus: 'error',
      targetReleaseId: null,
      releaseId: null,
      services: [
        {
          name: SERVICE,
          releaseId: null,
          image: `registry.local/web${CLEAR}`,
          containerId: null,
          state: 'exited',
          health: null,
          exitCode: 1,
        },
      ],
      error: ERROR,
      reportedAt: new Date().toISOString(),
    };
    const answer = await fetch(`${api.url}${paths.state(hostile.uuid)}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${admitted.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(report),
    });
    assert.equal(answer.status, 204, await answer.text());
  });

  after(async () => {
    await api?.stop();
  });

  it('lists devices with their text escaped, one row each', async () => {
    const out = await skiff('devices');
    assert.deepEqual(terminalControls(out), []);
    const lines = out.trimEnd().split('\n');
    assert.equal(lines.length, 3, `a head and two rows:\n${out}`);
    assert.match(lines[0] ?? '', /^ID\s+NAME\s+FLEET/);
    const row = lines.find((l) => l.startsWith(shortId)) ?? '';
    assert.ok(row.includes('kitchen\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\x0aFAKE0000   forged'), row);
    assert.ok(row.includes('disk full\\x1b[2J'), row);
    assert.ok(
      lines.some((l) => /^[0-9A-Z]{8}\s+shed\s+meters/.test(l)),
      out,
    );
    assert.ok(!lines.some((l) => l.startsWith('FAKE')), 'no forged row');
  });

  it('shows one device with its text escaped, each field on its line', async () => {
    const out = await skiff('device', 'show', shortId);
    assert.deepEqual(terminalControls(out), []);
    const lines = out.split('\n');
    assert.ok(!lines.some((l) => l.startsWith('FAKE')), `no forged line:\n${out}`);
    assert.ok(
      lines.some((l) => /^Name:\s+kitchen\\x1b\]0;pwned\\x07\\x1b\[2J\\x0d\\x0aFAKE0000 {3}forged$/.test(l)),
      out,
    );
    assert.ok(
      lines.some(
        (l) => l.startsWith('Error:') && l.endsWith('disk full\\x1b[2J\\x0d\\x0aFAKE1111   forged   meters   online'),
      ),
      out,
    );
    const services = lines.slice(lines.findIndex((l) => l.startsWith('SERVICE'))).filter((l) => l !== '');
    assert.equal(services.length, 2, `the head and one service:\n${out}`);
    assert.match(services[1] ?? '', /^web\\x1b\]0;pwned\\x07\s+exited/);
  });

  it('keeps the exact text in --json', async () => {
    const shown = JSON.parse(await skiff('device', 'show', shortId, '--json')) as DeviceDetail;
    assert.equal(shown.name, NAME);
    assert.equal(shown.error, ERROR);
    assert.equal(shown.lastReport?.services[0]?.name, SERVICE);
  });
});

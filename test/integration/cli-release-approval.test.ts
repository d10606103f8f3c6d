// Roles per fleet and release approval as people use them: the `skiff` CLI against a real API process and a real
// registry. An admin sets a fleet's review rules and gives a user a role on that fleet only; a privileged release
// shows as pending approval with its reasons; that user approves it with their own token, and the listing says so.
import assert from 'node:assert/strict';
import { NewApiTokenSchema } from '../../protocol/access.js';
import { parse } from '../../protocol/validate.js';
import { buildProgram } from '../../cli/program.js';
import type { Io } from '../../cli/session.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';

const PRIVILEGED = 'services:\n  reader:\n    build: ./reader\n    privileged: true\n    devices: ["/dev/ttyUSB0"]\n';

/** `skiff ...args` with `token`, in-process: what it printed, or the error it failed with. */
async function skiffAs(api: ApiServer, token: string, ...args: string[]): Promise<string> {
  let out = '';
  const io: Io = {
    stdout: (text) => {
      out += text;
    },
    stderr: () => undefined,
    env: { SKIFF_API_URL: api.url, SKIFF_API_TOKEN: token, HOME: api.dataDir },
    now: () => new Date(),
  };
  await buildProgram(io)
    .exitOverride()
    .parseAsync(['node', 'skiff', ...args]);
  return out;
}

describe('skiff: roles per fleet and release approval', function () {
  this.timeout(180_000);
  let api: ApiServer;
  let image = '';

  before(async () => {
    image = await buildTestImage(loadTestEnv(), { repo: 'cli-approval-reader' });
    api = await ApiServer.start({ redisUrl: null });
    await api.createFleet('alpha');
    await api.createFleet('beta');
  });

  after(async () => {
    await api?.stop();
  });

  it('an operator granted on one fleet approves its held release; the listing shows who', async () => {
    const admin = (...args: string[]) => skiffAs(api, api.adminToken, ...args);
    const review = await admin('fleet', 'review', 'alpha', '--approval', 'privileged', '--allow-host-path', '/srv/x');
    assert.match(review, /Approval: +privileged/);
    assert.match(review, /Allowed host paths: +\/srv\/x/);

    assert.match(await admin('user', 'create', 'olga', '--role', 'none'), /created with role none/);
    assert.match(
      await admin('user', 'grant', 'olga', '--fleet', 'alpha', '--role', 'operator'),
      /operator on fleet alpha/,
    );
    assert.match(await admin('users'), /olga +none \(fleet roles only\) +alpha: operator/);
    const token = parse(
      NewApiTokenSchema,
      JSON.parse(await admin('token', 'create', 'olga', '--json')),
      'the token',
    ).token;
    assert.match(await skiffAs(api, token, 'whoami'), /olga \(none \(fleet roles only\); alpha: operator\)/);

    const created = await api.admin.createRelease('alpha', { compose: PRIVILEGED, images: { reader: image } });
    assert.equal((await api.releaseSettled('alpha', created.id)).status, 'ready');
    assert.match(await admin('releases', 'alpha'), /ready .* pending approval \(2 review reasons\)/);
    const shown = await admin('release', 'show', 'alpha', created.version);
    assert.match(shown, /Review reason: +service reader: privileged/);
    assert.match(shown, /Review reason: +service reader: host device "\/dev\/ttyUSB0:\/dev\/ttyUSB0"/);

    // Olga sees alpha only, and may not approve anything in beta.
    assert.doesNotMatch(await skiffAs(api, token, 'fleets'), /beta/);
    await assert.rejects(skiffAs(api, token, 'releases', 'beta'), /403|Forbidden|needs the role/);

    const approved = await skiffAs(api, token, 'release', 'approve', 'alpha', created.version, '--note', 'P1 port');
    assert.match(approved, /approved by olga/);
    assert.match(await admin('releases', 'alpha'), /approved by olga/);
    const shownAfter = await admin('release', 'show', 'alpha', created.version);
    assert.match(shownAfter, /Decision note: +P1 port/);
    assert.match(await skiffAs(api, token, 'audit', '--fleet', 'alpha'), /release\.approve/);
  });
});

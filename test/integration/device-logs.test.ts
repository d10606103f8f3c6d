// Fleet logs end to end: a supervisor process managing the environment's device engine, the real registry-api (in
// this process, over HTTP, SQLite) and the `skiff` CLI as a process. The service prints known lines; `skiff logs`
// shows exactly the last ones, `--follow` shows a line printed after it started, and the device sends no batch
// while nobody asks (every POST is counted on the API side).
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { DeviceLogsSchema } from '../../protocol/device-logs.js';
import { parse } from '../../protocol/validate.js';
import { deviceLogPaths } from '../../protocol/http/paths.js';
import type { SupervisorConfig } from '../../supervisor/config.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv } from '../../harness/env.js';
import { buildTestImage } from '../../harness/images.js';
import { cleanDevice, deviceDocker, eventually, execIn, managedContainers } from '../../harness/supervisor-device.js';
import { makeDataDir, printLogsIfFailed, SupervisorProcess } from '../../harness/supervisor-process.js';
import { runSkiff, SkiffProcess } from '../../harness/skiff-process.js';

const env = loadTestEnv();
const docker = deviceDocker(env);
/** Short, so the want's end is seen within the test. */
const FOLLOW_MS = 4_000;
const RENEW_MS = 1_000;

/**
 * Prints a line on stderr, then "known line 1".."known line 20", then whatever appears in /tmp/say. The engine
 * reads stdout and stderr separately, so lines of the two printed close together may be stamped out of order: the
 * pause keeps the stderr line first.
 */
const TALKER = [
  'sh',
  '-c',
  [
    'echo "to stderr" >&2; sleep 1',
    'i=1; while [ $i -le 20 ]; do echo "known line $i"; i=$((i+1)); done',
    'trap "exit 0" TERM',
    'while :; do if [ -f /tmp/say ]; then cat /tmp/say; rm -f /tmp/say; fi; sleep 0.2 & wait $!; done',
  ].join('; '),
];

describe('fleet logs: skiff logs against a real device', function () {
  this.timeout(240_000);
  let api: ApiServer;
  let device: SupervisorProcess | undefined;
  let follower: SkiffProcess | undefined;
  let dataDir: string | undefined;
  let uuid = '';
  let containerId = '';

  /** The last lines of the talker as the device's engine has them. */
  const engineTail = async (lines: number): Promise<string> => {
    const stream = await docker.stream('GET', `/containers/${containerId}/logs`, {
      query: { stdout: '1', tail: String(lines) },
    });
    let text = '';
    for await (const chunk of stream) text += (chunk as Buffer).toString('utf8');
    return text;
  };
  const logPosts = (): number => api.requestsTo('POST', deviceLogPaths.batches(uuid)).length;
  const say = (text: string): Promise<unknown> =>
    execIn(docker, containerId, ['sh', '-c', `echo '${text}' > /tmp/say.new && mv /tmp/say.new /tmp/say`]);

  before(async () => {
    api = await ApiServer.start({ registry: env.registry, deviceLogs: { followMs: FOLLOW_MS, renewMs: RENEW_MS } });
    await cleanDevice(docker);
    const image = await buildTestImage(env, { repo: 'talker', cmd: TALKER });
    const fleet = await api.createFleet('logged');
    const release = await api.createRelease(
      fleet.name,
      'services:\n  talker:\n    build: ./talker\n    restart: always\n',
      { talker: image },
    );
    const config: SupervisorConfig = {
      apiUrl: api.url,
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      deviceType: 'generic-amd64',
      dockerHost: env.deviceDockerHost,
      localApiPort: 0,
    };
    dataDir = await makeDataDir(config);
    device = new SupervisorProcess(dataDir, { SKIFF_REPORT_INTERVAL_MS: '200' });
    const p = device;
    uuid = await eventually(
      'the device to pick its uuid',
      20_000,
      async () => (JSON.parse(await readFile(path.join(dataDir!, 'config.json'), 'utf8')) as SupervisorConfig).uuid,
    );
    await eventually('the release to run', 90_000, async () => {
      const d = await api.device(uuid);
      return d.lastReport?.updateStatus === 'converged' && d.lastReport.releaseId === release.id ? d : undefined;
    });
    await eventually('the push channel to be open', 20_000, async () =>
      p.hasLogged('push channel open') ? true : undefined,
    );
    containerId = await eventually(
      'the talker container',
      30_000,
      async () => (await managedContainers(docker)).find((c) => c.service === 'talker')?.id,
    );
    await eventually('the known lines', 30_000, async () =>
      (await engineTail(1)).includes('known line 20') ? true : undefined,
    );
  });

  afterEach(async function () {
    printLogsIfFailed(this.currentTest, device);
    if (this.currentTest?.state === 'failed') {
      console.error(`--- requests ---\n${api.requests.map((r) => `${r.method} ${r.path} ${r.status}`).join('\n')}`);
      console.error(`--- skiff --follow ---\n${follower?.stdout ?? ''}\n${follower?.stderr ?? ''}`);
    }
    await follower?.stop('SIGKILL');
    follower = undefined;
  });

  after(async () => {
    await device?.stop('SIGKILL');
    await api?.stop();
    await cleanDevice(docker);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('sends no log batch while nobody asks', () => {
    // The device has run since before its release converged and its push channel opened.
    assert.equal(logPosts(), 0);
  });

  it('shows exactly the last 5 lines with --tail 5, found by the start of the uuid', async () => {
    const run = await runSkiff(api, 'logs', uuid.slice(0, 8), '--tail', '5');
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      run.stdout.split('\n').slice(0, -1),
      [16, 17, 18, 19, 20].map((n) => `talker | known line ${n}`),
    );
    assert.ok(logPosts() >= 1, 'the answer came from the device');

    const json = await runSkiff(api, 'logs', uuid, '--tail', '21', '--json');
    assert.equal(json.code, 0, json.stderr);
    const answer = parse(DeviceLogsSchema, JSON.parse(json.stdout), 'skiff logs --json');
    assert.deepEqual(answer.services, ['talker']);
    assert.deepEqual(
      answer.lines.map((l) => [l.text, l.stream]),
      [['to stderr', 'stderr'], ...Array.from({ length: 20 }, (_, i) => [`known line ${i + 1}`, 'stdout'])],
    );
    assert.ok(answer.lines.every((l) => l.containerId === containerId && l.service === 'talker'));
  });

  it('names a service the device does not run, and a malformed tail', async () => {
    const missing = await runSkiff(api, 'logs', uuid, '--service', 'nope');
    assert.equal(missing.code, 3, 'not found');
    assert.match(missing.stderr, /HTTP 404/);
    assert.match(missing.stderr, /runs no service 'nope' \(it runs: talker\)/);
    // Refused where it is typed, before the API is asked, in words.
    const bad = await runSkiff(api, 'logs', uuid, '--tail', 'lots');
    assert.equal(bad.code, 2, 'usage');
    assert.match(bad.stderr, /--tail: 'lots' is not a whole number from 0 to 1000/);
  });

  it('follows: shows a line the service prints after the command started, then the device falls quiet', async () => {
    const p = device!;
    const asked = (): number => p.logs().filter((l) => l.msg === 'logs asked').length;
    const askedBefore = asked();
    follower = new SkiffProcess(api, ['logs', uuid, '--follow', '--tail', '2']);
    const f = follower;
    await eventually(
      'the last 2 lines',
      20_000,
      async () => (f.lines().join('\n') === 'talker | known line 19\ntalker | known line 20' ? true : undefined),
      50,
    );

    const started = Date.now();
    await say('said after the follow started');
    await eventually(
      'the new line in skiff logs --follow',
      10_000,
      async () => (f.lines().includes('talker | said after the follow started') ? true : undefined),
      50,
    );
    console.log(`      printed -> shown by skiff logs --follow: ${Date.now() - started} ms`);
    // Followed for longer than one want lasts: only the follower's renewals keep the device shipping.
    const renewals = Math.ceil(FOLLOW_MS / RENEW_MS) + 1;
    await eventually(`${renewals} renewals`, FOLLOW_MS + 10_000, async () =>
      asked() - askedBefore >= 1 + renewals ? true : undefined,
    );
    await say('still followed');
    await eventually(
      'a second new line',
      10_000,
      async () => (f.lines().includes('talker | still followed') ? true : undefined),
      50,
    );
    assert.deepEqual(
      f.lines().slice(0, 2),
      ['talker | known line 19', 'talker | known line 20'],
      'the snapshot came first',
    );
    assert.equal(f.lines().filter((l) => l === 'talker | said after the follow started').length, 1, 'each line once');

    assert.equal(await f.stop('SIGTERM'), 0);
    // Nobody follows now: the device stops on its own when the want runs out.
    await eventually('the device to stop shipping', FOLLOW_MS + 10_000, async () =>
      p.hasLogged('logs: nobody follows any more; shipping stopped') ? true : undefined,
    );
    const posts = logPosts();
    await say('printed while nobody follows');
    await eventually('the line in the engine', 30_000, async () =>
      (await engineTail(1)).includes('printed while nobody follows') ? true : undefined,
    );
    // Three follow passes' worth of time: a device still shipping would have posted the line by now.
    const watchUntil = Date.now() + 3_000;
    while (Date.now() < watchUntil) {
      assert.equal(logPosts(), posts, 'a batch was sent while nobody asked');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  it('answers 409 at once for a device whose push channel is closed', async () => {
    await device!.stop('SIGKILL');
    const refused = await eventually('the closed channel to be noticed', 20_000, async () => {
      const run = await runSkiff(api, 'logs', uuid, '--tail', '1');
      return run.code === 5 && /HTTP 409/.test(run.stderr) ? run : undefined;
    });
    assert.match(refused.stderr, /has no push channel open to the API: it is offline/);
  });
});

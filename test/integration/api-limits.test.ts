// What one device or an unauthenticated client can take of the API, for real: a device flooding push channels, a
// large body before authentication, headers or a body trickled in, an oversized state report, and the mode of the
// files the API writes into a data directory that already exists. The limits are the ones README.md's "Deploying
// it for real" states; the numbers below are those, written out so each test reads on its own.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { DeviceSummary, Fleet } from '../../protocol/api.js';
import type { StateReport } from '../../protocol/state-report.js';
import { eventPaths, paths } from '../../protocol/http/paths.js';
import { ApiServer } from '../../harness/api-server.js';
import { distRoot } from '../../harness/env.js';
import { readAnswerBody } from '../../harness/http-answer.js';
import { TestDevice } from '../../harness/test-device.js';

/** MAX_PUSH_CHANNELS_PER_DEVICE (registry-api/http/push-channels.ts). */
const CHANNELS_PER_DEVICE = 2;
/** HEADERS_TIMEOUT_MS plus CONNECTIONS_CHECK_INTERVAL_MS (registry-api/http/server-limits.ts). */
const HEADERS_BOUND_MS = 21_000;
/** PUBLIC_BODY_TIMEOUT_MS (registry-api/http/request-body.ts). */
const PUBLIC_BODY_BOUND_MS = 30_000;
/** What "served promptly" means next to a flood: far below any client's timeout. */
const PROMPT_MS = 2_000;

const ADMIN_TOKEN = 'limits-admin-token-0123456789';

interface Channel {
  status: number;
  /** The answer's body so far (a problem when refused). */
  text(): string;
  open(): boolean;
  closed: Promise<void>;
  destroy(): void;
}

/** GET the device's push channel on a connection of its own; resolves once the answer's headers are in. */
function openChannel(baseUrl: string, uuid: string, token: string): Promise<Channel> {
  return new Promise((resolve, reject) => {
    const req: ClientRequest = request(`${baseUrl}${eventPaths.events(uuid)}`, {
      agent: false,
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    });
    req.on('error', reject);
    req.on('response', (res: IncomingMessage) => {
      let open = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      const closed = new Promise<void>((done) => {
        const close = (): void => {
          open = false;
          done();
        };
        res.on('end', close);
        res.on('close', close);
        res.on('error', close);
      });
      resolve({
        status: res.statusCode ?? 0,
        text: () => text,
        open: () => open,
        closed,
        destroy: () => req.destroy(),
      });
    });
    req.end();
  });
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work();
  return { value, ms: Date.now() - started };
}

/** POSTs `body` as it is (a Buffer of any size) with node:http, which reads an answer sent before the body is in. */
function postRaw(url: string, body: Buffer): Promise<{ status: number; type: string; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text }));
    });
    req.end(body);
  });
}

function fullReport(error: string | null): StateReport {
  return {
    supervisorVersion: '0.1.0',
    updateStatus: error === null ? 'converged' : 'error',
    targetReleaseId: null,
    releaseId: null,
    services: [],
    error,
    reportedAt: new Date().toISOString(),
  };
}

describe('API limits: one device or an unauthenticated client cannot sink it', function () {
  this.timeout(120_000);
  let api: ApiServer;
  let fleet: Fleet;

  before(async () => {
    api = await ApiServer.start({ redisUrl: null });
    fleet = await api.createFleet('limits');
  });

  after(async () => {
    await api?.stop();
  });

  it('keeps a flooding device at its push channel limit, newest first, while others are served', async () => {
    const flooder = TestDevice.create('f100de00-0000-4000-8000-000000000001');
    const other = TestDevice.create('07e00000-0000-4000-8000-000000000002');
    const { token } = await flooder.token(api.url, { fleet: fleet.name, provisioningKey: fleet.provisioningKey });
    const otherToken = (await other.token(api.url, { fleet: fleet.name, provisioningKey: fleet.provisioningKey }))
      .token;

    const channels: Channel[] = [];
    try {
      // 200 channels, 20 at a time: each replaces the oldest beyond the limit.
      for (let batch = 0; batch < 10; batch++) {
        const opened = await Promise.all(Array.from({ length: 20 }, () => openChannel(api.url, flooder.uuid, token)));
        for (const channel of opened) assert.equal(channel.status, 200, channel.text());
        channels.push(...opened);
      }
      // Within a batch the server's arrival order is not the array's: the one channel that is surely the newest
      // is opened alone, after all the others have been answered.
      const newest = await openChannel(api.url, flooder.uuid, token);
      assert.equal(newest.status, 200, newest.text());
      channels.push(newest);
      await until(
        `the flooding device down to ${CHANNELS_PER_DEVICE} open channels (${channels.filter((c) => c.open()).length} open)`,
        () => channels.filter((c) => c.open()).length === CHANNELS_PER_DEVICE,
        30_000,
      );
      // The newest one is the one its supervisor listens to; it stays.
      assert.ok(newest.open(), 'the newest channel is kept');

      const poll = await timed(() =>
        fetch(`${api.url}${paths.target(other.uuid)}`, { headers: { authorization: `Bearer ${otherToken}` } }),
      );
      await poll.value.body?.cancel();
      assert.equal(poll.value.status, 200);
      assert.ok(poll.ms < PROMPT_MS, `another device's poll took ${poll.ms} ms`);
      const otherChannel = await openChannel(api.url, other.uuid, otherToken);
      channels.push(otherChannel);
      assert.equal(otherChannel.status, 200, 'another device still gets its push channel');
      const list = await timed(() =>
        fetch(`${api.url}${paths.devices}`, { headers: { authorization: `Bearer ${api.adminToken}` } }),
      );
      const devices = (await list.value.json()) as DeviceSummary[];
      assert.equal(list.value.status, 200);
      assert.ok(list.ms < PROMPT_MS, `GET ${paths.devices} took ${list.ms} ms`);
      assert.ok(devices.some((d) => d.uuid === other.uuid));
    } finally {
      for (const channel of channels) channel.destroy();
    }
  });

  it('refuses a large body before authentication with 413, before parsing it', async () => {
    const device = TestDevice.create('b16b0d00-0000-4000-8000-000000000003');
    const padded = Buffer.from(
      JSON.stringify({ ...device.authBody({ fleet: fleet.name }), padding: 'x'.repeat(64 * 1024) }),
      'utf8',
    );
    for (const url of [`${api.url}${paths.deviceAuth}`, `${api.url}${paths.rotateKey(device.uuid)}`]) {
      const answer = await postRaw(url, padded);
      assert.equal(answer.status, 413, `${url}: ${answer.text}`);
      assert.match(answer.type, /^application\/problem\+json/);
      assert.match(answer.text, /too-large/);
      assert.match(answer.text, /larger than 8kb/);
    }
    // A real auth request is far below the limit.
    assert.equal(
      (await device.auth(api.url, { fleet: fleet.name, provisioningKey: fleet.provisioningKey })).status,
      200,
    );
  });

  it('refuses an oversized state report, which never reaches the device list', async () => {
    const device = TestDevice.create('2e902000-0000-4000-8000-000000000004');
    const { token } = await device.token(api.url, { fleet: fleet.name, provisioningKey: fleet.provisioningKey });
    const patch = (report: unknown): Promise<Response> =>
      fetch(`${api.url}${paths.state(device.uuid)}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(report),
      });
    const fine = await patch(fullReport('pull failed: connection reset'));
    assert.equal(fine.status, 204, await fine.text());
    const etag = fine.headers.get('etag') ?? '';

    const huge = 'E'.repeat(100_000);
    const manyServices = Array.from({ length: 1_000 }, (_, i) => ({
      name: `svc-${i}`,
      releaseId: null,
      image: 'busybox',
      containerId: null,
      state: 'missing',
      health: null,
      exitCode: null,
    }));
    for (const [what, report, ifMatch] of [
      ['a 100 kB error', fullReport(huge), null],
      ['1,000 services', { ...fullReport(null), services: manyServices }, null],
      ['a 100 kB service name', { ...fullReport(null), services: [{ ...manyServices[0], name: huge }] }, null],
      ['a partial report with a 100 kB error', { error: huge }, etag],
    ] as const) {
      const answer = await fetch(`${api.url}${paths.state(device.uuid)}`, {
        method: 'PATCH',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          ...(ifMatch === null ? {} : { 'if-match': ifMatch }),
        },
        body: JSON.stringify(report),
      });
      const { text } = await readAnswerBody(answer);
      assert.ok(answer.status === 400 || answer.status === 413, `${what}: ${answer.status} ${text}`);
      assert.match(answer.headers.get('content-type') ?? '', /^application\/problem\+json/, what);
    }

    const list = await fetch(`${api.url}${paths.devices}`, { headers: { authorization: `Bearer ${api.adminToken}` } });
    const text = await list.text();
    assert.equal(list.status, 200);
    assert.ok(!text.includes('EEEE'), 'the refused error is not listed');
    const mine = (JSON.parse(text) as DeviceSummary[]).find((d) => d.uuid === device.uuid);
    assert.equal(mine?.error, 'pull failed: connection reset', 'the last accepted report stands');
  });
});

describe('API limits of the registry-api process', function () {
  this.timeout(120_000);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'skiff-api-limits-'));
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Starts main.js with the umask a service usually gets (022); resolves once it listens. */
  async function start(env: Record<string, string>) {
    const before = process.umask(0o022);
    const child = spawn(process.execPath, [path.join(distRoot, 'registry-api', 'main.js')], {
      env: { ...process.env, SKIFF_LOG_LEVEL: 'info', SKIFF_API_PORT: '0', SKIFF_ADMIN_TOKEN: ADMIN_TOKEN, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    process.umask(before);
    const lines: string[] = [];
    const url = await new Promise<string>((resolve, reject) => {
      const reader = createInterface({ input: child.stderr });
      reader.on('line', (line) => {
        lines.push(line);
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'listening' && entry.url) resolve(entry.url);
      });
      child.once('exit', (code) => reject(new Error(`registry-api exited with ${String(code)}: ${lines.join('\n')}`)));
    });
    return {
      url,
      async stop(): Promise<void> {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      },
    };
  }

  const admin = (url: string, route: string, body: unknown): Promise<Response> =>
    fetch(`${url}${route}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('writes its data files 0600 into a data directory that exists with mode 0755, and tightens an old database', async () => {
    const dataDir = path.join(dir, 'data-0755');
    await rm(dataDir, { recursive: true, force: true });
    await mkdir(dataDir);
    await chmod(dataDir, 0o755);
    const api = await start({ SKIFF_DATA_DIR: dataDir });
    try {
      // A write, so the database has its write-ahead log.
      assert.equal((await admin(api.url, paths.fleets, { name: 'modes', deviceType: 'generic-amd64' })).status, 201);
      for (const file of ['skiff.db', 'skiff.db-wal', 'skiff.db-shm', 'signing-key.pem']) {
        const mode = (await stat(path.join(dataDir, file))).mode & 0o777;
        assert.equal(mode & 0o077, 0, `${file} is ${mode.toString(8)}, readable by others`);
      }
    } finally {
      await api.stop();
    }
    // A database left readable by an older version is made private when opened.
    await chmod(path.join(dataDir, 'skiff.db'), 0o644);
    const again = await start({ SKIFF_DATA_DIR: dataDir });
    try {
      assert.equal((await stat(path.join(dataDir, 'skiff.db'))).mode & 0o777, 0o600);
    } finally {
      await again.stop();
    }
  });

  it('refuses push channels past SKIFF_MAX_PUSH_CHANNELS with 503, still replacing a device’s own', async () => {
    const api = await start({ SKIFF_DATA_DIR: path.join(dir, 'data-channels'), SKIFF_MAX_PUSH_CHANNELS: '3' });
    const channels: Channel[] = [];
    try {
      const created = await admin(api.url, paths.fleets, { name: 'channels', deviceType: 'generic-amd64' });
      assert.equal(created.status, 201);
      const fleet = (await created.json()) as Fleet;
      const devices = [1, 2, 3].map((i) => TestDevice.create(`c4a22e10-0000-4000-8000-00000000000${i}`));
      const tokens: string[] = [];
      for (const device of devices) {
        tokens.push((await device.token(api.url, { fleet: fleet.name, provisioningKey: fleet.provisioningKey })).token);
      }
      const [one, two, three] = devices as [TestDevice, TestDevice, TestDevice];
      const [oneToken, twoToken, threeToken] = tokens as [string, string, string];
      for (const [device, token] of [
        [one, oneToken],
        [one, oneToken],
        [two, twoToken],
      ] as const) {
        const channel = await openChannel(api.url, device.uuid, token);
        channels.push(channel);
        assert.equal(channel.status, 200);
      }
      const refused = await openChannel(api.url, three.uuid, threeToken);
      channels.push(refused);
      assert.equal(refused.status, 503);
      await refused.closed;
      assert.match(refused.text(), /too-many-push-channels/);
      // A device at its own limit still gets a new channel: it replaces its oldest, the total stays.
      const replacing = await openChannel(api.url, one.uuid, oneToken);
      channels.push(replacing);
      assert.equal(replacing.status, 200);
      await channels[0]?.closed;
      // Polling goes on for the refused device.
      const poll = await fetch(`${api.url}${paths.target(three.uuid)}`, {
        headers: { authorization: `Bearer ${threeToken}` },
      });
      await poll.body?.cancel();
      assert.equal(poll.status, 200);
    } finally {
      for (const channel of channels) channel.destroy();
      await api.stop();
    }
  });

  it('drops a client that trickles its headers, or an unauthenticated body, within the bounds', async () => {
    const api = await start({ SKIFF_DATA_DIR: path.join(dir, 'data-slow') });
    const { port, hostname } = new URL(api.url);
    try {
      // Given up a while after the bound, so a server that never drops the client fails the test, not its timeout.
      const closedAfter = (boundMs: number, start: (socket: ReturnType<typeof connect>) => NodeJS.Timeout) =>
        new Promise<{ ms: number; answer: string }>((resolve) => {
          const started = Date.now();
          const socket = connect(Number(port), hostname);
          const giveUp = setTimeout(() => socket.destroy(), boundMs + 5_000);
          let answer = '';
          socket.setEncoding('utf8');
          socket.on('data', (chunk: string) => {
            answer += chunk;
          });
          socket.on('error', () => {});
          let trickle: NodeJS.Timeout | undefined;
          socket.on('connect', () => {
            trickle = start(socket);
          });
          socket.on('close', () => {
            clearInterval(trickle);
            clearTimeout(giveUp);
            resolve({ ms: Date.now() - started, answer });
          });
        });

      // One header byte every 250 ms: the headers would take minutes.
      const headers = closedAfter(HEADERS_BOUND_MS, (socket) => {
        socket.write(`GET ${paths.info} HTTP/1.1\r\nHost: ${hostname}\r\nX-Slow: `);
        return setInterval(() => socket.write('a'), 250);
      });
      // Complete headers, then a body of 2 kB at one byte a second.
      const body = closedAfter(PUBLIC_BODY_BOUND_MS, (socket) => {
        socket.write(
          `POST ${paths.deviceAuth} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: 2048\r\n\r\n{`,
        );
        return setInterval(() => socket.write(' '), 1_000);
      });
      const [slowHeaders, slowBody] = await Promise.all([headers, body]);
      assert.ok(
        slowHeaders.ms <= HEADERS_BOUND_MS + 2_000,
        `a client trickling its headers held its connection ${slowHeaders.ms} ms`,
      );
      assert.match(slowHeaders.answer, /^HTTP\/1\.1 408/);
      assert.ok(
        slowBody.ms <= PUBLIC_BODY_BOUND_MS + 2_000,
        `a client trickling an unauthenticated body held its connection ${slowBody.ms} ms`,
      );
      assert.match(slowBody.answer, /^HTTP\/1\.1 408/);
      assert.match(slowBody.answer, /request-timeout/);
    } finally {
      await api.stop();
    }
  });
});

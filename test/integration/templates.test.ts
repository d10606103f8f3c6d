// The meter-fleet template's images, built and run for real on the dev engine: the base images from the host,
// the three services on them, their logs, their volumes' files and how fast they stop.
// Containers run with no network, or in another test container's namespace, so all traffic stays on loopback.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createLogger } from '../../lib/logger.js';
import {
  connectEngine,
  DockerEngine,
  type ContainerCreateOptions,
  type EngineClient,
} from '../../supervisor/engine/engine.js';
import { buildImage } from '../../harness/engine-build.js';
import { loadTestEnv, repoRoot } from '../../harness/env.js';
import { execIn, inspectContainer } from '../../harness/supervisor-device.js';
import { readHealthFile } from '../../supervisor/app-health/health-file.js';

const run = promisify(execFile);
const templateDir = path.join(repoRoot, 'compose-templates', 'meter-fleet');
const SERVICES = { 'meter-reader': 'skiff/node:base', tunnel: 'skiff/ssh:base', logger: 'skiff/busybox:base' } as const;
type ServiceName = keyof typeof SERVICES;
const STOP_BUDGET_MS = 3000;

interface LogLine {
  level?: string;
  msg?: string;
  reason?: string;
  reading?: {
    receivedAt: string;
    deliveredTariff1Kwh: number;
    deliveredTariff2Kwh: number;
    returnedTariff1Kwh: number;
    returnedTariff2Kwh: number;
    timestamp: string;
  };
}

interface Container {
  id: string;
}

function jsonLines(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const SINK = `
const http = require('node:http');
http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    for (const r of JSON.parse(body).readings) console.log(JSON.stringify({ sink: r.receivedAt }));
    res.end('{}');
  });
}).listen(18080, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

describe('meter-fleet template images', function () {
  this.timeout(120_000);
  let docker: EngineClient;
  let engine: DockerEngine;
  const images = {} as Record<ServiceName, string>;
  const created: Container[] = [];
  const suffix = `${process.pid}-${Date.now().toString(36)}`;
  let keyDir = '';

  before(async function () {
    // A fresh machine installs busybox-static, openssh-client and autossh first.
    this.timeout(900_000);
    const env = loadTestEnv();
    docker = connectEngine(env.devDockerHost);
    engine = new DockerEngine(docker, createLogger('test-templates', { test: 'integration' }));
    await run('bash', [path.join(repoRoot, 'scripts', 'base-images.sh')], {
      env: { ...process.env, DOCKER_HOST: env.devDockerHost },
      timeout: 850_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    for (const [service, base] of Object.entries(SERVICES) as [ServiceName, string][]) {
      images[service] = await build(service, base);
    }
    keyDir = mkdtempSync(path.join(tmpdir(), 'skiff-tunnel-key-'));
    await run('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'skiff-test',
      '-f',
      path.join(keyDir, 'id_ed25519'),
    ]);
  });

  after(async () => {
    for (const container of created.splice(0)) {
      await docker
        .json('DELETE', `/containers/${container.id}`, { query: { force: 'true', v: 'true' } })
        .catch(() => undefined);
    }
    if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  });

  async function build(service: ServiceName, base: string): Promise<string> {
    const tag = `skiff-test/meter-fleet-${service}:it`;
    const context = path.join(templateDir, service);
    await buildImage(docker, context, readdirSync(context), { tag, buildArgs: { BASE: base } });
    return tag;
  }

  async function start(name: string, options: ContainerCreateOptions): Promise<Container> {
    const container = {
      id: await engine.createContainer(`skiff-it-${name}-${suffix}`, {
        ...options,
        HostConfig: { NetworkMode: 'none', ...options.HostConfig },
      }),
    };
    created.push(container);
    await engine.startContainer(container.id);
    return container;
  }

  async function logs(container: Container): Promise<string> {
    return (await engine.containerLogs(container.id)).map((l) => `${l.text}\n`).join('');
  }

  async function exec(container: Container, cmd: string[]): Promise<string> {
    // execIn runs with a TTY, which ends lines with CR LF.
    return (await execIn(docker, container.id, cmd)).output.replace(/\r\n/g, '\n');
  }

  /** docker stop, timed; the container must end on SIGTERM well before the engine's SIGKILL. */
  async function stopQuickly(container: Container, what: string): Promise<number> {
    const started = Date.now();
    await engine.stopContainer(container.id, 10);
    const took = Date.now() - started;
    assert.ok(took < STOP_BUDGET_MS, `${what} took ${took} ms to stop`);
    const state = (await inspectContainer(docker, container.id)).State;
    assert.equal(state.Running, false);
    return state.ExitCode;
  }

  it('meter-reader reads a simulated meter, logs valid readings and rejects damaged telegrams', async () => {
    // The directory a supervisor gives the service: the reader writes its health there.
    const lockDir = mkdtempSync(path.join(tmpdir(), 'skiff-meter-lock-'));
    const reader = await start('meter-reader', {
      Image: images['meter-reader'],
      Env: [
        'METER_SOURCE=simulated',
        'METER_INTERVAL_SECONDS=0.4',
        'METER_SIM_SPEED=3600',
        'METER_PUBLISH_INTERVAL_SECONDS=0',
        'METER_SIM_CORRUPT_EVERY=4',
        'SKIFF_LOCK_DIR=/run/skiff/lock',
      ],
      HostConfig: { Binds: [`${lockDir}:/run/skiff/lock`] },
    });
    const lines = await until('six readings in the log', async () => {
      const parsed = jsonLines(await logs(reader));
      return parsed.filter((l) => l.msg === 'reading').length >= 6 ? parsed : undefined;
    });
    const readings = lines.flatMap((l) => (l.msg === 'reading' && l.reading ? [l.reading] : []));
    for (const [i, r] of readings.entries()) {
      assert.match(r.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00$/);
      const prev = readings[i - 1];
      if (!prev) continue;
      const total = (x: typeof r) =>
        x.deliveredTariff1Kwh + x.deliveredTariff2Kwh + x.returnedTariff1Kwh + x.returnedTariff2Kwh;
      assert.ok(total(r) > total(prev), `meter counters rose from reading ${i - 1} to ${i}`);
    }
    const rejected = lines.filter((l) => l.msg === 'telegram rejected');
    assert.ok(rejected.length >= 1, 'every 4th telegram is damaged');
    assert.ok(rejected.every((l) => /^CRC mismatch/.test(l.reason ?? '')));

    assert.equal(await stopQuickly(reader, 'meter-reader'), 0);
    assert.ok(jsonLines(await logs(reader)).some((l) => l.msg === 'stopped'));
    // Its first telegram's verdict, written at once for the supervisor (then at most once a minute).
    const health = await readHealthFile(lockDir);
    rmSync(lockDir, { recursive: true, force: true });
    assert.ok(health !== null && 'health' in health, JSON.stringify(health));
    assert.match(health.health.detail ?? '', /^[01] of the last 1 telegrams good$/);
  });

  it('meter-reader buffers while its endpoint is away, flushes in order, and logs to the logger', async () => {
    const logger = await start('logger', {
      Image: images.logger,
      Env: ['LOG_ROTATE_KB=1', 'LOG_ROTATE_KEEP=2'],
    });
    const shared = { NetworkMode: `container:${logger.id}` };
    const reader = await start('meter-reader-endpoint', {
      Image: images['meter-reader'],
      Env: [
        'METER_SOURCE=simulated',
        'METER_INTERVAL_SECONDS=0.3',
        'METER_SIM_SPEED=3600',
        'METER_PUBLISH_INTERVAL_SECONDS=0',
        'METER_ENDPOINT=http://127.0.0.1:18080/readings',
        'METER_RETRY_MAX_SECONDS=0.5',
        'LOG_LEVEL=debug',
        'LOG_TARGET=127.0.0.1:514',
      ],
      HostConfig: shared,
    });
    await until('readings buffered while no endpoint listens', async () => {
      const lines = jsonLines(await logs(reader));
      const buffering = lines.some((l) => l.msg === 'endpoint unreachable; buffering readings');
      return buffering && lines.filter((l) => l.msg === 'reading').length >= 5 ? true : undefined;
    });

    const sink = await start('sink', { Image: images['meter-reader'], Cmd: ['node', '-e', SINK], HostConfig: shared });
    await until('the backlog flushed', async () =>
      jsonLines(await logs(reader)).some((l) => l.msg === 'buffer flushed; sending readings directly again')
        ? true
        : undefined,
    );
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await stopQuickly(reader, 'meter-reader'), 0);
    assert.equal(await stopQuickly(sink, 'sink'), 0);

    const produced = jsonLines(await logs(reader)).flatMap((l) =>
      l.msg === 'reading' && l.reading ? [l.reading.receivedAt] : [],
    );
    const received = (await logs(sink))
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { sink: string }).sink);
    assert.ok(received.length >= 5, `the sink got ${received.length} readings`);
    // In order, none lost, none twice: the sink saw what the reader produced (the last may still be unsent).
    assert.deepEqual(received, produced.slice(0, received.length));
    assert.ok(produced.length - received.length <= 1, `${produced.length} produced, ${received.length} received`);

    // Every reading is logged at debug level: well over 3 KiB, so the 1 KiB file rotated, two old ones kept.
    const sizes = (
      await exec(logger, ['sh', '-c', 'cd /var/log/fleet && for f in *; do echo "$f $(wc -c < "$f")"; done'])
    )
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    assert.deepEqual(
      sizes.map(([f]) => f),
      ['messages', 'messages.1', 'messages.2'],
    );
    for (const [file, size] of sizes) assert.ok(Number(size) < 1024 + 1024, `${file} has ${size} bytes`);
    const kept = await exec(logger, [
      'cat',
      '/var/log/fleet/messages.2',
      '/var/log/fleet/messages.1',
      '/var/log/fleet/messages',
    ]);
    assert.match(kept, /^\S+ meter-reader debug: \{.*"msg":"reading"/m);
    assert.match(kept, /^\S+ meter-reader info: \{.*"msg":"stopped"/m, 'the last line is sent before the reader exits');
    assert.equal(await stopQuickly(logger, 'logger'), 0);
  });

  it('tunnel without TUNNEL_HOST idles, says so, and stops at once', async () => {
    const tunnel = await start('tunnel-idle', { Image: images.tunnel });
    await until('the idle line', async () =>
      (await logs(tunnel)).includes('TUNNEL_HOST is not set') ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await inspectContainer(docker, tunnel.id)).State.Running, true, 'idling, not exiting');
    assert.equal(await stopQuickly(tunnel, 'idle tunnel'), 0);
  });

  for (const autossh of [false, true]) {
    it(`tunnel retries an unreachable jump host ${autossh ? 'under autossh' : 'in its own backoff loop'}`, async () => {
      const tunnel = await start(`tunnel-${autossh ? 'autossh' : 'loop'}`, {
        Image: images.tunnel,
        Env: [
          'TUNNEL_HOST=127.0.0.1',
          'TUNNEL_PORT=1',
          'TUNNEL_REMOTE_PORT=20022',
          `TUNNEL_USE_AUTOSSH=${autossh ? 'auto' : 'no'}`,
        ],
        HostConfig: { Binds: [`${keyDir}:/run/secrets/tunnel:ro`] },
      });
      const expected = autossh ? /autossh\[\d+\]: starting ssh \(count 3\)/ : /reconnecting in 2s/;
      const text = await until('repeated attempts', async () => {
        const t = await logs(tunnel);
        return expected.test(t) ? t : undefined;
      });
      assert.match(text, /-> \S+:22 as skiff/);
      assert.match(text, /connect to host 127\.0\.0\.1 port 1: Connection refused/);
      assert.match(text, /trusting 127\.0\.0\.1's host key on first use/);
      assert.equal(await stopQuickly(tunnel, 'retrying tunnel'), 0);
    });
  }
});

// The meter reader on its device source, as a real process: a FIFO stands in for the P1 port (a tty goes the
// same event-loop way). SIGTERM must end it at once even while a read is pending on a quiet line.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../../harness/env.js';

interface SimulatorModule {
  SimulatedMeter: new () => { telegram(at: Date): string };
}
type LogFn = (msg: string, fields?: Record<string, unknown>) => void;
interface SourceModule {
  deviceChunks(o: {
    device: string;
    serial: { baud: number; dataBits: 7 | 8; parity: 'none'; stopBits: 1 };
    signal: AbortSignal;
    log: { debug: LogFn; info: LogFn; warn: LogFn; error: LogFn };
  }): AsyncGenerator<Buffer>;
}
interface Line {
  msg?: string;
  reading?: { deliveredTariff1Kwh: number };
}

const readerDir = path.join(repoRoot, 'compose-templates', 'meter-fleet', 'meter-reader');

/** The reader's stdout as parsed JSON lines, growing while it runs. */
function collect(child: ChildProcess): Line[] {
  const lines: Line[] = [];
  let rest = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString('utf8')).split('\n');
    rest = parts.pop() ?? '';
    for (const part of parts) if (part.startsWith('{')) lines.push(JSON.parse(part) as Line);
  });
  return lines;
}

async function until(what: string, condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('meter reader on a device', () => {
  let dir: string;
  let child: ChildProcess | null = null;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'skiff-meter-device-'));
  });

  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = null;
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads telegrams from the port and exits at once on SIGTERM while waiting for more', async () => {
    const fifo = path.join(dir, 'p1');
    execFileSync('mkfifo', [fifo]);
    const heartbeat = path.join(dir, 'alive');
    const reader = spawn(process.execPath, ['main.mjs'], {
      cwd: readerDir,
      env: {
        PATH: process.env.PATH,
        METER_DEVICE: fifo,
        METER_PUBLISH_INTERVAL_SECONDS: '0',
        METER_HEARTBEAT_FILE: heartbeat,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child = reader;
    const lines = collect(reader);
    await until('the reader to open the port', () => lines.some((l) => l.msg === 'reading meter'));

    const { SimulatedMeter } = (await import(
      pathToFileURL(path.join(readerDir, 'simulator.mjs')).href
    )) as SimulatorModule;
    const meter = new SimulatedMeter();
    const port = await open(fifo, 'w');
    // Joined mid-telegram: the tail of one, then two whole ones.
    await port.write(
      `1-0:2.7.0(00.000*kW)\r\n!1A2B\r\n${meter.telegram(new Date())}${meter.telegram(new Date(Date.now() + 3_600_000))}`,
    );
    await until('two readings', () => lines.filter((l) => l.msg === 'reading').length === 2);
    assert.ok(existsSync(heartbeat), 'a good telegram marks the reader alive');
    assert.equal(lines.filter((l) => l.msg === 'telegram rejected').length, 0);

    // The line stays connected but quiet, a read pending on it: SIGTERM must not wait for the next telegram.
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    reader.kill('SIGTERM');
    const exit = await Promise.race([
      new Promise<number | null>((resolve) => reader.once('exit', (c) => resolve(c))),
      new Promise<string>((resolve) => setTimeout(() => resolve('still running 3 s after SIGTERM'), 3000)),
    ]);
    await port.close();
    assert.equal(exit, 0);
    assert.ok(Date.now() - started < 1500, `exited ${Date.now() - started} ms after SIGTERM`);
    assert.ok(lines.some((l) => l.msg === 'stopped'));
  });

  it('keeps trying a port that is not there, and stops when asked', async () => {
    const source = (await import(pathToFileURL(path.join(readerDir, 'source.mjs')).href)) as SourceModule;
    const warnings: string[] = [];
    const log = {
      debug: () => undefined,
      info: () => undefined,
      error: () => undefined,
      warn: (msg: string) => {
        warnings.push(msg);
      },
    };
    const ac = new AbortController();
    const chunks = source.deviceChunks({
      device: path.join(dir, 'ttyUSB9'),
      serial: { baud: 115200, dataBits: 8, parity: 'none', stopBits: 1 },
      log,
      signal: ac.signal,
    });
    const next = chunks.next();
    await until('a warning', () => warnings.length > 0);
    assert.deepEqual(warnings, ['cannot read meter device']);
    const started = Date.now();
    ac.abort();
    assert.deepEqual(await next, { done: true, value: undefined });
    assert.ok(Date.now() - started < 200);
  });
});

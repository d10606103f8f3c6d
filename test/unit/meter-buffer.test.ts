// The meter reader's delivery path against a real HTTP server on 127.0.0.1: readings go out in order, wait in
// the buffer file while the endpoint is down, and are flushed oldest first when it is back.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../../harness/env.js';

type PostResult = { kind: 'sent' } | { kind: 'retry'; reason: string } | { kind: 'rejected'; reason: string };
type Post = (records: unknown[], signal: AbortSignal) => Promise<PostResult>;
type LogFn = (msg: string, fields?: Record<string, unknown>) => void;
interface Log {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}
interface Batch {
  records: unknown[];
  lines: number;
  end: number;
}
interface ReadingBuffer {
  readonly pending: number;
  append(record: unknown): void;
  peek(max: number): Batch;
  consume(batch: Batch): void;
}
interface Shipper {
  readonly buffered: number;
  submit(reading: unknown): void;
  stop(): Promise<void>;
}
interface BufferModule {
  ReadingBuffer: new (o: { file: string; maxBytes: number; log: Log }) => ReadingBuffer;
}
interface PosterModule {
  createPoster(e: { url: string; token: string | null; timeoutMs: number }): Post;
}
interface ShipperModule {
  Shipper: new (o: {
    post: Post;
    buffer: ReadingBuffer;
    log: Log;
    batchSize?: number;
    retryMinMs?: number;
    retryMaxMs?: number;
  }) => Shipper;
}
interface LogModule {
  createLog(service: string, o?: { level?: string; write?: (line: string) => void }): Log;
}

const readerDir = path.join(repoRoot, 'compose-templates', 'meter-fleet', 'meter-reader');
async function load<T>(file: string): Promise<T> {
  return (await import(pathToFileURL(path.join(readerDir, file)).href)) as T;
}

interface Reading {
  seq: number;
}

/** The fleet endpoint: records every batch it accepts; `status` decides its answer. */
class Endpoint {
  readonly received: Reading[] = [];
  readonly authorizations: (string | undefined)[] = [];
  status = 200;
  port = 0;
  #server: http.Server | null = null;

  async start(port = 0): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.authorizations.push(req.headers.authorization);
        if (this.status === 200) {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { readings: Reading[] };
          this.received.push(...body.readings);
        }
        res.writeHead(this.status, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Gone, as a crashed or unreachable endpoint: new connections are refused. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/readings`;
  }
}

async function until(what: string, condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const seqs = (readings: readonly Reading[]) => readings.map((r) => r.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('meter reader delivery', () => {
  let bufferModule: BufferModule;
  let posterModule: PosterModule;
  let shipperModule: ShipperModule;
  let logModule: LogModule;
  let dir: string;
  let endpoint: Endpoint;
  let logLines: { msg: string }[];
  let log: Log;
  const shippers: Shipper[] = [];

  before(async () => {
    bufferModule = await load<BufferModule>('buffer.mjs');
    posterModule = await load<PosterModule>('poster.mjs');
    shipperModule = await load<ShipperModule>('shipper.mjs');
    logModule = await load<LogModule>('log.mjs');
  });

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'skiff-meter-buffer-'));
    endpoint = new Endpoint();
    await endpoint.start();
    logLines = [];
    log = logModule.createLog('test', {
      level: 'debug',
      write: (line) => logLines.push(JSON.parse(line) as { msg: string }),
    });
  });

  afterEach(async () => {
    await Promise.all(shippers.splice(0).map((s) => s.stop()));
    await endpoint.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const bufferAt = (file = path.join(dir, 'readings.jsonl'), maxBytes = 1024 * 1024) =>
    new bufferModule.ReadingBuffer({ file, maxBytes, log });

  function shipper(buffer: ReadingBuffer, token: string | null = null): Shipper {
    const s = new shipperModule.Shipper({
      post: posterModule.createPoster({ url: endpoint.url, token, timeoutMs: 2000 }),
      buffer,
      log,
      batchSize: 3,
      retryMinMs: 20,
      retryMaxMs: 100,
    });
    shippers.push(s);
    return s;
  }

  it('buffers while the endpoint is down and flushes in order when it is back', async () => {
    const buffer = bufferAt();
    const s = shipper(buffer, 'secret-token');
    for (const seq of [1, 2]) s.submit({ seq });
    await until('readings 1-2 delivered', () => endpoint.received.length === 2);
    assert.equal(buffer.pending, 0, 'nothing touches the disk while the endpoint answers');

    const port = endpoint.port;
    await endpoint.stop();
    for (const seq of range(3, 9)) s.submit({ seq });
    await until('readings 3-9 buffered', () => buffer.pending === 7);
    assert.ok(logLines.some((l) => l.msg === 'endpoint unreachable; buffering readings'));
    // During the outage a reading is on disk as soon as it is submitted: a crash now loses nothing.
    s.submit({ seq: 10 });
    assert.equal(buffer.pending, 8);
    assert.equal(readFileSync(path.join(dir, 'readings.jsonl'), 'utf8').trim().split('\n').length, 8);

    await endpoint.start(port);
    // New readings keep arriving while the backlog drains: they must land behind it.
    for (const seq of range(11, 13)) s.submit({ seq });
    await until('all 13 readings delivered', () => endpoint.received.length >= 13);
    await until('buffer emptied', () => buffer.pending === 0);
    assert.deepEqual(seqs(endpoint.received), range(1, 13));
    assert.ok(logLines.some((l) => l.msg === 'buffer flushed; sending readings directly again'));
    assert.ok(endpoint.authorizations.every((a) => a === 'Bearer secret-token'));

    s.submit({ seq: 14 });
    await until('reading 14 delivered directly', () => endpoint.received.length === 14);
    assert.equal(buffer.pending, 0);
  });

  it('keeps undelivered readings across a restart and sends them before new ones', async () => {
    const port = endpoint.port;
    await endpoint.stop();
    const first = shipper(bufferAt());
    for (const seq of range(1, 5)) first.submit({ seq });
    await until('readings buffered', () => first.buffered === 5);
    await first.stop();

    await endpoint.start(port);
    const buffer = bufferAt();
    assert.equal(buffer.pending, 5, 'a new process finds the backlog');
    const second = shipper(buffer);
    second.submit({ seq: 6 });
    await until('all delivered', () => endpoint.received.length === 6 && buffer.pending === 0);
    assert.deepEqual(seqs(endpoint.received), range(1, 6));
  });

  it('hands readings still in flight to the buffer when stopped', async () => {
    // An endpoint that never answers: the post is in flight when the stop comes.
    const hanging = http.createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', () => resolve()));
    try {
      const buffer = bufferAt();
      const s = new shipperModule.Shipper({
        post: posterModule.createPoster({
          url: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/`,
          token: null,
          timeoutMs: 60_000,
        }),
        buffer,
        log,
        retryMinMs: 20,
      });
      s.submit({ seq: 1 });
      s.submit({ seq: 2 });
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      await s.stop();
      assert.ok(Date.now() - started < 1000, 'stop does not wait for the endpoint');
      const batch = buffer.peek(10);
      assert.deepEqual(seqs(batch.records as Reading[]), [1, 2]);
    } finally {
      hanging.closeAllConnections();
      hanging.close();
    }
  });

  it('retries on 5xx and auth errors but drops a batch the endpoint rejects as malformed', async () => {
    const buffer = bufferAt();
    const s = shipper(buffer);
    endpoint.status = 503;
    s.submit({ seq: 1 });
    await until('reading 1 buffered after a 503', () => buffer.pending === 1);
    endpoint.status = 401;
    await until('retried during the 401', () => endpoint.authorizations.length >= 3);
    assert.equal(buffer.pending, 1, 'a 401 keeps the reading');
    endpoint.status = 400;
    await until('batch dropped on 400', () => buffer.pending === 0);
    assert.ok(logLines.some((l) => l.msg === 'endpoint rejected buffered readings; dropping them'));
    endpoint.status = 200;
    s.submit({ seq: 2 });
    await until('reading 2 delivered', () => endpoint.received.length === 1);
    assert.deepEqual(seqs(endpoint.received), [2]);
  });

  describe('buffer file', () => {
    it('drops the oldest readings when full and keeps the newest', () => {
      const buffer = bufferAt(path.join(dir, 'small.jsonl'), 4096);
      const padding = 'x'.repeat(80);
      for (const seq of range(1, 100)) buffer.append({ seq, padding });
      const kept = seqs(buffer.peek(1000).records as Reading[]);
      assert.ok(kept.length < 100 && kept.length > 20, `kept ${kept.length}`);
      assert.deepEqual(kept, range(100 - kept.length + 1, 100), 'the newest, in order');
      assert.ok(readFileSync(path.join(dir, 'small.jsonl')).length <= 4096);
      assert.ok(logLines.some((l) => l.msg === 'readings buffer full: dropped the oldest readings'));
    });

    it('cuts a line torn by a power loss and skips a damaged one', () => {
      const file = path.join(dir, 'torn.jsonl');
      writeFileSync(file, '{"seq":1}\n{"seq":2,"damag\n{"seq":3}\n');
      appendFileSync(file, '{"seq":4,"half');
      const buffer = bufferAt(file);
      assert.equal(buffer.pending, 3);
      const batch = buffer.peek(10);
      assert.deepEqual(seqs(batch.records as Reading[]), [1, 3]);
      assert.equal(batch.lines, 3);
      buffer.consume(batch);
      assert.equal(buffer.pending, 0);
      assert.equal(readFileSync(file, 'utf8'), '');
    });

    it('remembers what was delivered across instances', () => {
      const file = path.join(dir, 'cursor.jsonl');
      const one = bufferAt(file);
      for (const seq of range(1, 5)) one.append({ seq });
      one.consume(one.peek(2));
      const two = bufferAt(file);
      assert.equal(two.pending, 3);
      assert.deepEqual(seqs(two.peek(10).records as Reading[]), [3, 4, 5]);
    });
  });
});

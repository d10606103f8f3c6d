// What the supervisor holds in memory from the network is bounded: an event-stream line (or event) that never
// ends, and an answer body that never ends, are cut at their limit with an error naming it, against a local HTTP
// server that sends without end. Bodies read as streams (layers, bundles into files) are not limited.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { DEFAULT_MAX_BODY_BYTES, HttpBodyTooLargeError, httpRequest } from '../../lib/http-request.js';
import { SseLimitError, SseParser } from '../../lib/sse.js';
import { MAX_PUSH_EVENT_CHARS, TargetEvents } from '../../supervisor/online/push-channel.js';

const CHUNK = 'x'.repeat(16 * 1024);

/** Writes `prefix`, then CHUNK after CHUNK until the client goes; resolves `closed` when it does. */
function endless(res: ServerResponse, prefix: string, closed: () => void): void {
  res.write(prefix);
  const more = (): void => {
    while (!res.destroyed && res.write(CHUNK));
    if (!res.destroyed) res.once('drain', more);
  };
  res.once('close', closed);
  more();
}

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
}

describe('bounded reads from the network', () => {
  describe('server-sent events', () => {
    it('throws once an unfinished line passes the limit, however it arrives', () => {
      const parser = new SseParser({ maxEventChars: 1000 });
      assert.deepEqual(parser.push('event: target\ndata: '), []);
      for (let i = 0; i < 9; i++) parser.push('x'.repeat(100));
      assert.throws(
        () => parser.push('x'.repeat(100)),
        (err: unknown) => err instanceof SseLimitError && /longer than 1000 characters/.test(err.message),
      );
    });

    it('throws once one event of many data lines passes the limit', () => {
      const parser = new SseParser({ maxEventChars: 1000 });
      assert.throws(() => parser.push(`${'data: 0123456789\n'.repeat(100)}\n`), SseLimitError);
    });

    it('counts each event on its own: many events under the limit pass', () => {
      const parser = new SseParser({ maxEventChars: 100 });
      const events = parser.push(`${'event: target\ndata: 0123456789\n\n'.repeat(1000)}`);
      assert.equal(events.length, 1000);
    });

    it('drops a push channel that sends an endless line, logs why, and opens it again', async () => {
      let connections = 0;
      let firstClosed = false;
      const server = createServer((_req, res) => {
        connections++;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        if (connections === 1) endless(res, 'event: target\ndata: ', () => (firstClosed = true));
        else res.write('event: target\ndata: {"etag":"\\"v2\\""}\n\n');
      });
      const url = await listen(server);
      const logged: Array<{ level: number; msg: string; reason?: string }> = [];
      const log = pino(
        { level: 'info' },
        new Writable({
          write(line: Buffer, _encoding, done) {
            logged.push(JSON.parse(line.toString('utf8')) as { level: number; msg: string });
            done();
          },
        }),
      );
      const stale: string[] = [];
      const events = new TargetEvents({
        api: {
          openEvents: async (_uuid, signal) => {
            const response = await httpRequest(`${url}/events`, { signal });
            if (response.body === null) throw new Error('no body');
            return { body: response.body, heartbeatSeconds: null };
          },
        },
        uuid: 'u',
        log,
        knownEtag: () => '"v1"',
        onStale: (etag) => stale.push(etag),
        retry: { initialMs: 10, maxMs: 10 },
      });
      try {
        events.start();
        for (let waited = 0; stale.length === 0 && waited < 10_000; waited += 20)
          await new Promise((resolve) => setTimeout(resolve, 20));
        assert.deepEqual(stale, ['"v2"'], 'the channel was opened again and works');
        assert.ok(firstClosed, 'the endless connection was dropped');
        const warning = logged.find((l) => l.msg === 'push channel: over-long event, dropped');
        assert.ok(warning, JSON.stringify(logged));
        assert.match(warning.reason ?? '', new RegExp(`longer than ${MAX_PUSH_EVENT_CHARS} characters`));
      } finally {
        await events.stop();
        await close(server);
      }
    });
  });

  describe('answer bodies read into memory', () => {
    let server: Server;
    let url: string;
    let closed = 0;

    before(async () => {
      server = createServer((req, res) => {
        if (req.url === '/declared') {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(1 << 30) });
          endless(res, '', () => closed++);
        } else if (req.url === '/small') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"ok":true}');
        } else if (req.url === '/stream') {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          for (let i = 0; i < 64; i++) res.write(CHUNK);
          res.end();
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          endless(res, '{"endless":"', () => closed++);
        }
      });
      url = await listen(server);
    });

    after(async () => {
      await close(server);
    });

    it('stops an endless body at the limit with an error naming the URL and the limit', async () => {
      for (const read of ['text', 'json', 'arrayBuffer'] as const) {
        const before = closed;
        const response = await httpRequest(`${url}/endless`, { maxBodyBytes: 256 * 1024 });
        await assert.rejects(
          response[read](),
          (err: unknown) =>
            err instanceof HttpBodyTooLargeError &&
            err.message.startsWith(`GET ${url}/endless: `) &&
            err.message.includes('262144-byte limit'),
        );
        for (let waited = 0; closed === before && waited < 5_000; waited += 10)
          await new Promise((resolve) => setTimeout(resolve, 10));
        assert.equal(closed, before + 1, `the connection is dropped after ${read}()`);
      }
    });

    it('refuses at once a body whose Content-Length is over the limit', async () => {
      const response = await httpRequest(`${url}/declared`);
      await assert.rejects(
        response.json(),
        (err: unknown) =>
          err instanceof HttpBodyTooLargeError &&
          err.message.includes(`${DEFAULT_MAX_BODY_BYTES}-byte limit`) &&
          err.message.includes(`Content-Length says ${1 << 30}`),
      );
    });

    it('reads small answers whole, and leaves streamed bodies unlimited', async () => {
      assert.deepEqual(await (await httpRequest(`${url}/small`, { maxBodyBytes: 64 })).json(), { ok: true });
      const response = await httpRequest(`${url}/stream`, { maxBodyBytes: 1024 });
      let size = 0;
      for await (const chunk of response.body ?? []) size += chunk.byteLength;
      assert.equal(size, 64 * CHUNK.length);
    });
  });
});

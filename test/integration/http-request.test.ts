// The supervisor's node:http client against real HTTP servers on loopback: what its callers relied on fetch for
// (redirects, credentials kept on their origin, 303 to GET, empty bodies, abort, the system error as cause).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { httpRequest, HttpRequestError } from '../../lib/http-request.js';

interface Seen {
  method: string;
  url: string;
  authorization: string | null;
  body: string;
}

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization ?? null,
        body,
      });
      handler(req, res, body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('supervisor HTTP client (node:http)', () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  });

  it('follows redirects, keeping credentials on their origin and turning 303 into a GET', async () => {
    const other = await serve((_req, res) => {
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.end('blob bytes');
    });
    const origin = await serve((req, res) => {
      if (req.url === '/away') res.writeHead(307, { location: `${other.url}/blob` }).end();
      else if (req.url === '/here') res.writeHead(303, { location: '/done' }).end();
      else res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ method: req.method }));
    });
    servers.push(other.server, origin.server);

    const away = await httpRequest(`${origin.url}/away`, { headers: { authorization: 'Bearer secret' } });
    assert.equal(away.status, 200);
    assert.equal(away.url, `${other.url}/blob`);
    assert.equal(await away.text(), 'blob bytes');
    assert.equal(away.headers.get('Set-Cookie'), 'a=1, b=2');
    assert.equal(other.seen[0]?.authorization, null, 'the token did not leave its origin');

    const here = await httpRequest(`${origin.url}/here`, {
      method: 'POST',
      body: '{"x":1}',
      headers: { authorization: 'Bearer secret' },
    });
    assert.equal(here.status, 201);
    assert.equal(here.ok, true);
    assert.equal(here.statusText, 'Created');
    assert.deepEqual(await here.json(), { method: 'GET' });
    assert.deepEqual(
      origin.seen.slice(1).map((s) => [s.method, s.url, s.authorization, s.body]),
      [
        ['POST', '/here', 'Bearer secret', '{"x":1}'],
        ['GET', '/done', 'Bearer secret', ''],
      ],
    );

    const manual = await httpRequest(`${origin.url}/away`, { redirect: 'manual' });
    assert.equal(manual.status, 307);
    assert.equal(manual.headers.get('location'), `${other.url}/blob`);
    assert.equal(manual.headers.get('x-nothing'), null);
  });

  it('has no body for 304 and HEAD, a stream otherwise, and reads bytes whole', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/same') res.writeHead(304).end();
      else
        res.writeHead(404, { 'content-type': 'text/plain' }).end(req.method === 'HEAD' ? undefined : 'no such thing');
    });
    servers.push(s.server);
    const same = await httpRequest(`${s.url}/same`);
    assert.equal(same.status, 304);
    assert.equal(same.body, null);
    const head = await httpRequest(`${s.url}/x`, { method: 'HEAD' });
    assert.equal(head.body, null);
    assert.equal(head.ok, false);
    const missing = await httpRequest(`${s.url}/x`);
    assert.equal(missing.status, 404);
    assert.equal(Buffer.from(await missing.arrayBuffer()).toString('utf8'), 'no such thing');
  });

  it("fails with the system error as cause, and with the signal's reason on abort", async () => {
    const closed = await serve(() => undefined);
    const { url } = closed;
    closed.server.close();
    await once(closed.server, 'close');
    await assert.rejects(httpRequest(`${url}/x`), (err: unknown) => {
      assert.ok(err instanceof HttpRequestError);
      assert.match(String((err.cause as Error).message), /ECONNREFUSED/);
      return true;
    });

    // A server that never answers: the request ends when the signal does, with its reason.
    const silent = await serve(() => undefined);
    servers.push(silent.server);
    const reason = new Error('window closed');
    const controller = new AbortController();
    setTimeout(() => controller.abort(reason), 100);
    await assert.rejects(
      httpRequest(`${silent.url}/x`, { signal: controller.signal }),
      (err: unknown) => err === reason,
    );
    await assert.rejects(httpRequest('ftp://127.0.0.1/x'), /unsupported protocol ftp:/);
  });
});

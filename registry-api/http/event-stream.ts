// Opening a server-sent events answer, for the device's push channel, followed device logs and fleet events alike.
import type { ServerResponse } from 'node:http';
import type Koa from 'koa';

/**
 * Takes the answer out of Koa's hands and writes the event-stream headers (plus `headers`); returns the raw
 * response to write events to. Written to the socket directly: a stream body would make Koa report every reader
 * hanging up as an error. The connection is meant to idle for minutes, so the socket has no timeout: heartbeats,
 * not socket timeouts, decide when it is dead.
 */
export function openEventStream(ctx: Koa.Context, headers: Record<string, string> = {}): ServerResponse {
  const socket = ctx.req.socket;
  socket.setTimeout(0);
  socket.setNoDelay(true);
  ctx.respond = false;
  ctx.status = 200;
  const res = ctx.res;
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    // nginx buffers answers by default, which would hold events back until the buffer fills.
    'X-Accel-Buffering': 'no',
    ...headers,
  });
  res.flushHeaders();
  return res;
}

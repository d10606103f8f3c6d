// The baseline of bench/fleet-scale: bare Koa in its own process (the port is the first argument) that answers
// every request with a short text, except paths ending in /events, which it holds open as an event stream with
// a heartbeat comment now and then, as the API holds devices' push channels. What a Koa server costs to hold the
// same sockets and answer the same requests, the API pays too; the difference is what Skiff adds.
import Koa from 'koa';

const port = Number(process.argv[2]);
const heartbeatMs = Number(process.argv[3] ?? 600_000);
if (!Number.isInteger(port) || port <= 0 || !(heartbeatMs > 0)) {
  process.stderr.write(
    `usage: node bare-koa-channels.js PORT [HEARTBEAT_MS] (got '${process.argv[2] ?? ''}' '${process.argv[3] ?? ''}')\n`,
  );
  process.exit(2);
}
const open = new Set<import('node:http').ServerResponse>();
const app = new Koa();
app.use((ctx) => {
  if (!ctx.path.endsWith('/events')) {
    ctx.body = 'hello world';
    return;
  }
  ctx.respond = false;
  ctx.req.socket.setTimeout(0);
  ctx.res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' });
  ctx.res.flushHeaders();
  open.add(ctx.res);
  ctx.res.on('close', () => open.delete(ctx.res));
});
// One timer for every stream: the API's per-channel timers are part of what the comparison measures.
setInterval(() => {
  for (const res of open) res.write(':\n\n');
}, heartbeatMs).unref();
const server = app.listen(port, '127.0.0.1', () => process.stdout.write(`listening on ${port}\n`));
server.keepAliveTimeout = 130_000;
process.on('SIGTERM', () => process.exit(0));

// The baseline of bench/api-poll: a bare Koa hello-world server, in its own process like the API, on the port given
// as the first argument. Whatever a Node HTTP server with Koa costs per request, the API pays too; the ratio shows
// what Skiff adds on top.
import Koa from 'koa';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write(`usage: node bare-koa.js PORT (got '${process.argv[2] ?? ''}')\n`);
  process.exit(2);
}
const app = new Koa();
app.use((ctx) => {
  ctx.body = 'hello world';
});
app.listen(port, '127.0.0.1', () => process.stdout.write(`listening on ${port}\n`));
process.on('SIGTERM', () => process.exit(0));

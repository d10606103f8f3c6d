// How long the HTTP server waits for a client, chosen for devices on slow, lossy links (a few kbit/s, seconds of
// retransmission) and for what must stay open for long: push channels and log follows (server-sent events, which
// switch their socket's idle timeout off themselves) and host OS bundle uploads (gigabytes, streamed).
//
// Node applies requestTimeout from a request's first byte until its body is complete, whatever the pace: any value
// would cut a legitimate upload of a large bundle on a slow link. So it is off, and a request's body is bounded by
// the idle timeout below (a stalled upload), the JSON bodies' read deadline and size limits (http/request-body.ts).
// Answers are not covered by either: once a request is read, only the idle timeout applies.
import { createServer, type RequestListener, type Server } from 'node:http';

/**
 * From a connection's first byte (or its opening, when it sends none) to the end of the request's headers. A
 * device's headers are under 2 kB: at 9.6 kbit/s that is 2 s, the rest is room for TCP retransmissions (1 s, 2 s,
 * 4 s...). Node's default (60 s, checked every 30 s) let a client that sends nothing hold a connection for 90 s.
 */
export const HEADERS_TIMEOUT_MS = 20_000;
/** How often Node looks for connections past HEADERS_TIMEOUT_MS: the bound is that plus this. */
export const CONNECTIONS_CHECK_INTERVAL_MS = 1_000;
/**
 * How long an idle connection is kept for the next request, by default. Longer than the 60 s idle timeout of
 * common reverse proxies and load balancers (nginx's upstream keepalive_timeout, AWS ALB), so they, not the API,
 * close a connection they hold: a proxy sending a request just as the API closes one would answer its client 502.
 * The API announces it (Keep-Alive: timeout=N) and devices keep their idle connection a little less
 * (protocol/device-events.ts pushTimings), so a device's poll, reports and downloads after a pin share one
 * connection and one TLS handshake, and the device, not the API, closes it.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;
/**
 * No byte either way on a connection in the middle of a request or an answer for this long: the peer is gone or
 * stalls on purpose. Longer than the longest a route waits before it answers (a log snapshot's `wait`, at most
 * 120 s) and than a mobile link's usual outages; server-sent event routes switch it off and rely on heartbeats.
 */
export const SOCKET_IDLE_TIMEOUT_MS = 180_000;

export interface ServerTimings {
  /** Replaces KEEP_ALIVE_TIMEOUT_MS (never below it). */
  keepAliveTimeoutMs?: number;
}

/** The API's HTTP server with the limits above. */
export function createApiServer(listener: RequestListener, timings: ServerTimings = {}): Server {
  const server = createServer(
    {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: 0,
      keepAliveTimeout: Math.max(KEEP_ALIVE_TIMEOUT_MS, timings.keepAliveTimeoutMs ?? 0),
      connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS,
    },
    listener,
  );
  server.timeout = SOCKET_IDLE_TIMEOUT_MS;
  return server;
}

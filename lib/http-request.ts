// The supervisor's HTTP client on node:http(s), in place of the global fetch: fetch brings undici, which stays
// resident (some 8 MB measured) in a daemon that must idle small on a 1 GB Pi. Only what the supervisor's clients
// use: a method, headers, a body (text, bytes, or a stream sent once), an AbortSignal, redirects followed; the answer offers the subset of
// fetch's Response they read (status, headers.get, a web ReadableStream body, text, json, arrayBuffer). Bodies are
// not decompressed: the supervisor never asks for compression.
//
// text(), json() and arrayBuffer() hold the whole body in memory, so they stop at a limit (maxBodyBytes, by default
// DEFAULT_MAX_BODY_BYTES) with an HttpBodyTooLargeError: an answer that never ends cannot grow the daemon without
// bound. What the supervisor reads that way is small (targets, tokens, manifests, image configs, problems); large
// things (layers, bundles) are read from `body` as a stream into files, and no limit applies there.
import {
  Agent as HttpAgent,
  request as httpRequestOf,
  STATUS_CODES,
  type IncomingMessage,
  type RequestOptions,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequestOf } from 'node:https';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { messageOf } from './errors.js';

/**
 * How the client's connections behave between requests. Node's global agents keep an idle connection only 5 s (so
 * nearly every request of a device that reports a few times a minute paid a TCP and TLS handshake) and set the
 * TCP keepalive delay to 1 s: a connection that stays open, the push channel above all, then had the kernel send a
 * probe (and get an ACK) every second it was quiet, some 120 bytes a second on a metered link.
 */
export interface ConnectionTimings {
  /** How long an idle connection is kept for the next request (less, if the server announces less). */
  idleMs: number;
  /** The TCP keepalive delay of every connection: how long it may be quiet before the kernel probes the peer. */
  tcpKeepAliveMs: number;
}

/**
 * Until the program says otherwise (tuneConnections): two minutes idle, probes after 21 quiet minutes (what a
 * device derives from the default heartbeat, protocol/device-events.ts, so that it rarely has to change them).
 */
export const DEFAULT_CONNECTION_TIMINGS: ConnectionTimings = { idleMs: 120_000, tcpKeepAliveMs: 1_260_000 };

function agentOptions(timings: ConnectionTimings): { keepAlive: true; keepAliveMsecs: number; timeout: number } {
  return { keepAlive: true, keepAliveMsecs: timings.tcpKeepAliveMs, timeout: timings.idleMs };
}

function agentsOf(timings: ConnectionTimings): { http: HttpAgent; https: HttpsAgent; timings: ConnectionTimings } {
  return { http: new HttpAgent(agentOptions(timings)), https: new HttpsAgent(agentOptions(timings)), timings };
}

/** The client's one pool per scheme: every request of the program shares its kept-alive connections. */
let agents = agentsOf(DEFAULT_CONNECTION_TIMINGS);

/**
 * Sets the timings of connections made from now on (a device learns them from the API's heartbeat announcement).
 * Other timings mean new pools (connections of the old ones finish their requests and close); the same timings
 * keep the pools, and with them their TLS sessions for cheap resumption.
 */
export function tuneConnections(timings: ConnectionTimings): void {
  if (!(timings.idleMs > 0) || !(timings.tcpKeepAliveMs >= 1000))
    throw new Error(
      `connection timings must be positive (idle ${timings.idleMs} ms) and keepalive at least 1 s (${timings.tcpKeepAliveMs} ms)`,
    );
  if (timings.idleMs === agents.timings.idleMs && timings.tcpKeepAliveMs === agents.timings.tcpKeepAliveMs) return;
  const old = agents;
  agents = agentsOf(timings);
  // Idle connections of the old pools close now; busy ones (the push channel) when their request ends.
  closeIdleOf(old.http);
  closeIdleOf(old.https);
}

function closeIdleOf(agent: HttpAgent): void {
  for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
}

/** Ends the kept-alive connections (a program that stops, a test that must see a fresh connection). */
export function closeIdleConnections(): void {
  closeIdleOf(agents.http);
  closeIdleOf(agents.https);
}

/** Bytes a request moved at the HTTP layer (headers and bodies as sent and received, before TLS). */
export interface TransferredBytes {
  sent: number;
  received: number;
}

export interface HttpRequestInit {
  method?: string;
  headers?: Record<string, string>;
  /** A stream is sent as it comes (give its content-length in the headers) and cannot follow a redirect. */
  body?: string | Uint8Array | Readable;
  signal?: AbortSignal;
  /** 'follow' (the default, as fetch): 301/302/303/307/308 are followed, at most MAX_REDIRECTS times. */
  redirect?: 'follow' | 'manual';
  /** Most bytes text(), json() and arrayBuffer() read into memory; default DEFAULT_MAX_BODY_BYTES. */
  maxBodyBytes?: number;
  /**
   * Told the HTTP bytes this request moved, once it is over (its answer read to the end, cancelled or failed):
   * the request line, headers and body sent, the status line, headers and body received, redirects included.
   */
  onBytes?: (bytes: TransferredBytes) => void;
}

/**
 * 16 MiB: well above what the answers read whole ever are (an OCI manifest is at most 4 MiB by the distribution
 * spec's advice, a target state or an image config far less), far below what a Pi can spare.
 */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface HttpHeaders {
  /** The header's value (repeated ones joined with ', '), null when absent: as fetch's Headers.get. */
  get(name: string): string | null;
}

export interface HttpResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  /** The URL that answered (after redirects). */
  readonly url: string;
  readonly headers: HttpHeaders;
  /** Null for a HEAD request and for 204/304 answers. */
  readonly body: ReadableStream<Uint8Array> | null;
  text(): Promise<string>;
  json(): Promise<unknown>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

const MAX_REDIRECTS = 20;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Thrown for a request that got no answer; `cause` is the system error (ECONNREFUSED...), as with fetch. */
export class HttpRequestError extends TypeError {
  constructor(method: string, url: string, cause: unknown) {
    super(`${method} ${url}: ${messageOf(cause)}`, { cause });
    this.name = 'HttpRequestError';
  }
}

/** Thrown by text(), json() or arrayBuffer() for a body over the limit; the connection is dropped. */
export class HttpBodyTooLargeError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly limit: number,
    declared: number | null,
  ) {
    super(
      `${method} ${url}: the answer's body is larger than the ${limit}-byte limit for answers read into memory${declared === null ? '' : ` (its Content-Length says ${declared})`}`,
    );
    this.name = 'HttpBodyTooLargeError';
  }
}

function headersOf(message: IncomingMessage): HttpHeaders {
  return {
    get: (name) => {
      const value = message.headers[name.toLowerCase()];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

/**
 * Counts what one request moves on its socket. A kept-alive socket serves requests one after another, so the
 * socket's byte counters, read when the request takes the socket and when its answer ends, are exactly its bytes.
 */
function meter(req: ReturnType<typeof httpRequestOf>, onBytes: (bytes: TransferredBytes) => void): void {
  let socket: Socket | undefined;
  let start = { sent: 0, received: 0 };
  let reported = false;
  let answered = false;
  const report = (): void => {
    if (reported || socket === undefined) return;
    reported = true;
    onBytes({ sent: socket.bytesWritten - start.sent, received: socket.bytesRead - start.received });
  };
  req.once('socket', (s: Socket) => {
    socket = s;
    start = { sent: s.bytesWritten, received: s.bytesRead };
  });
  req.once('response', (message: IncomingMessage) => {
    answered = true;
    message.once('end', report);
    message.once('close', report);
  });
  req.once('close', () => {
    // A request that failed or was aborted before its answer: what it wrote still counts.
    if (!answered) report();
  });
}

function send(url: URL, init: HttpRequestInit): Promise<IncomingMessage> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { ...init.headers };
  const body = init.body;
  if (body !== undefined && !(body instanceof Readable)) headers['content-length'] = String(Buffer.byteLength(body));
  const secure = url.protocol === 'https:';
  const start = secure ? httpsRequestOf : url.protocol === 'http:' ? httpRequestOf : null;
  if (start === null)
    return Promise.reject(new HttpRequestError(method, url.href, new Error(`unsupported protocol ${url.protocol}`)));
  const options: RequestOptions = {
    method,
    headers,
    signal: init.signal,
    agent: secure ? agents.https : agents.http,
  };
  return new Promise((resolve, reject) => {
    const req = start(url, options, resolve);
    if (init.onBytes !== undefined) meter(req, init.onBytes);
    req.once('error', (err) =>
      reject(init.signal?.aborted === true ? init.signal.reason : new HttpRequestError(method, url.href, err)),
    );
    if (body instanceof Readable) {
      body.once('error', (err) => req.destroy(err));
      body.pipe(req);
    } else req.end(body);
  });
}

/** Told the bytes of every request that brings no onBytes of its own, with the URL it was made to (before redirects). */
export type RequestMeter = (url: URL, bytes: TransferredBytes) => void;
let defaultMeter: RequestMeter | null = null;

/**
 * Meters every request of the program made without its own onBytes (the registry client, the downloader, the OS
 * bundle fetcher), so that no byte goes uncounted; null stops it.
 */
export function meterRequests(meter: RequestMeter | null): void {
  defaultMeter = meter;
}

export async function httpRequest(target: string | URL, init: HttpRequestInit = {}): Promise<HttpResponse> {
  let url = new URL(target);
  const meter = defaultMeter;
  const origin = url;
  let current: HttpRequestInit =
    init.onBytes !== undefined || meter === null ? init : { ...init, onBytes: (bytes) => meter(origin, bytes) };
  let message = await send(url, current);
  for (let hops = 0; REDIRECTS.has(message.statusCode ?? 0) && init.redirect !== 'manual'; hops++) {
    const location = message.headers.location;
    if (location === undefined) break;
    message.resume();
    if (current.body instanceof Readable)
      throw new HttpRequestError(
        current.method ?? 'GET',
        url.href,
        new Error('a streamed body cannot follow a redirect'),
      );
    if (hops >= MAX_REDIRECTS)
      throw new HttpRequestError(current.method ?? 'GET', url.href, new Error(`more than ${MAX_REDIRECTS} redirects`));
    const next = new URL(location, url);
    // As fetch: 303 (and 301/302 after a POST) turn into a GET without body; credentials stay on the same origin only.
    const toGet =
      message.statusCode === 303 ||
      ((message.statusCode === 301 || message.statusCode === 302) && current.method === 'POST');
    const headers = { ...current.headers };
    if (next.origin !== url.origin) delete headers.authorization;
    current = toGet ? { ...current, method: 'GET', body: undefined, headers } : { ...current, headers };
    url = next;
    message = await send(url, current);
  }
  return responseOf(message, url.href, current.method ?? 'GET', init.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
}

function responseOf(message: IncomingMessage, url: string, method: string, limit: number): HttpResponse {
  const status = message.statusCode ?? 0;
  const empty = method === 'HEAD' || status === 204 || status === 304;
  if (empty) message.resume();
  // The global ReadableStream type, as fetch's body: node:stream/web's declares the same class apart.
  const body = empty ? null : (Readable.toWeb(message) as unknown as ReadableStream<Uint8Array>);
  const bytes = async (): Promise<Buffer> => {
    if (body === null) return Buffer.alloc(0);
    const length = Number(message.headers['content-length'] ?? Number.NaN);
    const declared = Number.isFinite(length) ? length : null;
    if (declared !== null && declared > limit) {
      await body.cancel();
      throw new HttpBodyTooLargeError(method, url, limit, declared);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    // Leaving the loop early (the throw) cancels the stream, which closes the connection.
    for await (const chunk of body) {
      size += chunk.byteLength;
      if (size > limit) throw new HttpBodyTooLargeError(method, url, limit, declared);
      chunks.push(Buffer.from(chunk));
    }
    return Buffer.concat(chunks);
  };
  return {
    status,
    statusText: message.statusMessage ?? STATUS_CODES[status] ?? '',
    ok: status >= 200 && status < 300,
    url,
    headers: headersOf(message),
    body,
    text: async () => (await bytes()).toString('utf8'),
    json: async () => JSON.parse((await bytes()).toString('utf8')) as unknown,
    arrayBuffer: async () => {
      const buffer = await bytes();
      return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer;
    },
  };
}

// A device's metered link, rebuilt on loopback for tests and benches: a byte-counting TCP proxy (what the SIM's
// carrier would bill) in front of, optionally, a TLS terminator (Node's tls module, as a reverse proxy in front of
// the API would terminate it), in front of the API. The proxy sees exactly the bytes the device's TCP connections
// carry (TLS records included); the terminator, or the proxy itself on plain HTTP, reads the request lines to tell
// which request each byte belongs to, so bytes can be split by purpose (polls, push channel, reports...).
//
// TCP/IP headers are not visible to a userspace proxy, so they are estimated per segment and checked against the
// kernel: each chunk the proxy relays is counted as ceil(bytes / 1448) segments (a 1500-byte path MTU with TCP
// timestamps) plus one ACK from the other side, each 52 bytes of header (IPv4 20, TCP 20, timestamps 12); a
// connection adds 3 segments to open and 4 to close. `kernelSegments` reads the kernel's own counts (ss -ti) for
// the connections open at that moment, which also catches what the proxy never sees (TCP keepalive probes).
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Header bytes of one TCP segment over IPv4 with the timestamps option (Linux's default). */
export const SEGMENT_HEADER_BYTES = 52;
/** Payload of a full segment on a 1500-byte MTU path with TCP timestamps. */
export const SEGMENT_PAYLOAD_BYTES = 1448;
/** SYN, SYN-ACK, ACK to open; FIN, ACK each way to close. */
const OPEN_SEGMENTS = 3;
const CLOSE_SEGMENTS = 4;

export type LinkPurpose = 'auth' | 'polls' | 'push' | 'reports' | 'logs' | 'other';

/** The purpose of a device request, from its path. */
export function purposeOfPath(requestPath: string): LinkPurpose {
  const p = requestPath.split('?')[0] ?? '';
  if (p.endsWith('/target')) return 'polls';
  if (p.endsWith('/events')) return 'push';
  if (p.endsWith('/state')) return 'reports';
  if (p.endsWith('/logs')) return 'logs';
  if (p.includes('/auth')) return 'auth';
  return 'other';
}

/** One chunk the proxy relayed. */
export interface RelayedChunk {
  atMs: number;
  connection: number;
  /** up: device to API; down: API to device. */
  direction: 'up' | 'down';
  bytes: number;
}

interface LinkConnection {
  id: number;
  openedAtMs: number;
  closedAtMs: number | null;
  /** The proxy's port towards the terminator: how the terminator's side of the same connection is found. */
  upstreamPort: number | null;
  /** The device's port: how the kernel's counters of this connection are found. */
  devicePort: number;
}

/** When each request of a connection started, and what for (in order). */
interface RequestMark {
  atMs: number;
  purpose: LinkPurpose;
}

export interface LinkOptions {
  /** Where the API listens (http://127.0.0.1:PORT). */
  apiUrl: string;
  /** Terminate TLS between proxy and API: the device then talks https to the proxy. */
  tls: boolean;
}

/** Reads request lines from a plaintext device-to-API stream (HTTP/1.1, requests one after another). */
class RequestLineReader {
  private pending = '';
  constructor(private readonly onRequest: (path: string) => void) {}

  push(chunk: Buffer): void {
    // A request starts a chunk: Node's client writes a request's head in one write, after the previous answer
    // came (no pipelining). A head split before its line ends is held until the line is complete.
    const text = this.pending + chunk.toString('latin1', 0, Math.min(chunk.length, 2048));
    this.pending = '';
    const line = /^(GET|POST|PUT|PATCH|DELETE|HEAD) (\S+) HTTP\/1\.1\r\n/.exec(text);
    if (line !== null) this.onRequest(line[2] ?? '');
    else if (/^[A-Z]{1,7}( \S*)?$/.test(text)) this.pending = text;
  }
}

export class MeteredLink {
  readonly chunks: RelayedChunk[] = [];
  private readonly connections: LinkConnection[] = [];
  /** Request marks by the port the API side saw the connection come from (the proxy's upstream port). */
  private readonly marks = new Map<number, RequestMark[]>();
  private readonly sockets = new Set<Socket>();
  /** Requests of this purpose are cut off (their connection reset) instead of relayed. */
  refused: LinkPurpose | null = null;

  private constructor(
    private readonly proxy: Server,
    private readonly terminator: TlsServer | Server,
    readonly url: string,
    /** The terminator's certificate (PEM file) for NODE_EXTRA_CA_CERTS; null on plain HTTP. */
    readonly caFile: string | null,
    private readonly certDir: string | null,
  ) {}

  static async start(options: LinkOptions): Promise<MeteredLink> {
    const api = new URL(options.apiUrl);
    const apiPort = Number(api.port);
    let certDir: string | null = null;
    let link: MeteredLink | undefined;
    const marksOf = (port: number | undefined): RequestMark[] => {
      const marks = link?.marks;
      if (marks === undefined || port === undefined) return [];
      let found = marks.get(port);
      if (found === undefined) {
        found = [];
        marks.set(port, found);
      }
      return found;
    };
    // The middle hop: reads request lines on the plaintext side, then relays to the API.
    const relay = (inbound: Socket | TLSSocket): void => {
      const marks = marksOf(inbound.remotePort);
      const upstream = connect(apiPort, '127.0.0.1');
      // Registered before the pipe below, so a refused request is cut off before it is relayed.
      const reader = new RequestLineReader((requestPath) => {
        const purpose = purposeOfPath(requestPath);
        if (link?.refused === purpose) {
          inbound.destroy();
          upstream.destroy();
          return;
        }
        marks.push({ atMs: Date.now(), purpose });
      });
      link?.sockets.add(upstream).add(inbound);
      inbound.on('data', (chunk: Buffer) => reader.push(chunk));
      inbound.pipe(upstream).pipe(inbound);
      const close = (): void => {
        inbound.destroy();
        upstream.destroy();
      };
      inbound.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    };
    let terminator: TlsServer | Server;
    if (options.tls) {
      certDir = await mkdtemp(path.join(tmpdir(), 'skiff-tls-'));
      const keyFile = path.join(certDir, 'key.pem');
      const certFile = path.join(certDir, 'cert.pem');
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ]);
      terminator = createTlsServer({ key: await readFile(keyFile), cert: await readFile(certFile) }, relay);
    } else {
      terminator = createServer(relay);
    }
    terminator.listen(0, '127.0.0.1');
    await once(terminator, 'listening');
    const terminatorPort = (terminator.address() as AddressInfo).port;

    let nextId = 0;
    const proxy = createServer((device) => {
      const connection: LinkConnection = {
        id: nextId++,
        openedAtMs: Date.now(),
        closedAtMs: null,
        upstreamPort: null,
        devicePort: device.remotePort ?? 0,
      };
      link?.connections.push(connection);
      const upstream = connect(terminatorPort, '127.0.0.1', () => {
        connection.upstreamPort = upstream.localPort ?? null;
      });
      link?.sockets.add(upstream).add(device);
      const count = (direction: 'up' | 'down') => (chunk: Buffer) =>
        link?.chunks.push({ atMs: Date.now(), connection: connection.id, direction, bytes: chunk.length });
      device.on('data', count('up'));
      upstream.on('data', count('down'));
      device.pipe(upstream).pipe(device);
      const close = (): void => {
        connection.closedAtMs ??= Date.now();
        device.destroy();
        upstream.destroy();
      };
      device.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    const proxyPort = (proxy.address() as AddressInfo).port;
    const scheme = options.tls ? 'https' : 'http';
    link = new MeteredLink(
      proxy,
      terminator,
      `${scheme}://127.0.0.1:${proxyPort}${api.pathname.replace(/\/$/, '')}`,
      certDir === null ? null : path.join(certDir, 'cert.pem'),
      certDir,
    );
    return link;
  }

  /** Whether connection `id` is still open (neither side closed it). */
  isOpen(id: number): boolean {
    return this.connections.some((connection) => connection.id === id && connection.closedAtMs === null);
  }

  /**
   * The purpose of a chunk of connection `id` at `atMs`: the request that started last (TLS set-up: the first).
   * A device's request reaches the terminator a moment after the proxy relayed it, so a chunk going up may belong
   * to a request marked up to 50 ms later; an answer coming down never does (its request was marked before the API
   * answered). Back-to-back requests on one connection (an answer, then at once the next request) stay apart.
   */
  purposeOf(id: number, atMs: number, direction: RelayedChunk['direction'] = 'up'): LinkPurpose {
    const connection = this.connections[id];
    const marks = connection?.upstreamPort == null ? [] : (this.marks.get(connection.upstreamPort) ?? []);
    // Going up, the request this chunk starts: the first one marked within 50 ms after it (a later one in that
    // window is the next request, sent once this one was answered).
    if (direction === 'up') {
      const starting = marks.find((mark) => mark.atMs >= atMs && mark.atMs <= atMs + 50);
      if (starting !== undefined) return starting.purpose;
    }
    let purpose: LinkPurpose = marks[0]?.purpose ?? 'other';
    for (const mark of marks) if (mark.atMs <= atMs) purpose = mark.purpose;
    return purpose;
  }

  /** Bytes the proxy relayed in [fromMs, toMs), TCP/IP headers estimated as described above, by purpose. */
  bytesBetween(fromMs: number, toMs: number): LinkBytes {
    const result: LinkBytes = { payload: 0, headers: 0, segments: 0, connectionsOpened: 0, byPurpose: {} };
    const add = (purpose: LinkPurpose, payload: number, segments: number): void => {
      const entry = (result.byPurpose[purpose] ??= { payload: 0, headers: 0 });
      entry.payload += payload;
      entry.headers += segments * SEGMENT_HEADER_BYTES;
      result.payload += payload;
      result.headers += segments * SEGMENT_HEADER_BYTES;
      result.segments += segments;
    };
    for (const chunk of this.chunks) {
      if (chunk.atMs < fromMs || chunk.atMs >= toMs) continue;
      // The data segments, and an ACK from the other side for them.
      const segments = Math.ceil(chunk.bytes / SEGMENT_PAYLOAD_BYTES) + 1;
      add(this.purposeOf(chunk.connection, chunk.atMs, chunk.direction), chunk.bytes, segments);
    }
    for (const connection of this.connections) {
      if (connection.openedAtMs >= fromMs && connection.openedAtMs < toMs) {
        result.connectionsOpened += 1;
        add(this.purposeOf(connection.id, connection.openedAtMs), 0, OPEN_SEGMENTS);
      }
      if (connection.closedAtMs !== null && connection.closedAtMs >= fromMs && connection.closedAtMs < toMs)
        add(this.purposeOf(connection.id, connection.closedAtMs), 0, CLOSE_SEGMENTS);
    }
    return result;
  }

  /**
   * The kernel's segment counts (in + out, ss -ti) of the device's connections open now, by the proxy's
   * connection id; connections the kernel did not list are left out.
   */
  async kernelSegments(): Promise<Map<number, number>> {
    const port = (this.proxy.address() as AddressInfo).port;
    const found = new Map<number, number>();
    let text: string;
    try {
      ({ stdout: text } = await run('ss', ['-tinH', 'state', 'established', `( sport = :${port} )`]));
    } catch {
      return found;
    }
    // Each socket is a line with its addresses, then an indented line with its counters.
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const peer =
        /\s127\.0\.0\.1:(\d+)\s*$/.exec(lines[i]?.trimEnd() ?? '') ?? /127\.0\.0\.1:(\d+)\s*$/.exec(lines[i] ?? '');
      if (peer === null) continue;
      const info = lines[i + 1] ?? '';
      const segsOut = /segs_out:(\d+)/.exec(info);
      const segsIn = /segs_in:(\d+)/.exec(info);
      if (segsOut === null || segsIn === null) continue;
      const devicePort = Number(peer[1]);
      const connection = this.connections.find((c) => c.devicePort === devicePort && c.closedAtMs === null);
      if (connection !== undefined) found.set(connection.id, Number(segsOut[1]) + Number(segsIn[1]));
    }
    return found;
  }

  /** Connection ids open now. */
  openConnections(): number[] {
    return this.connections.filter((c) => c.closedAtMs === null).map((c) => c.id);
  }

  /** Drops every connection through the link now (the device sees its connections reset). */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  async stop(): Promise<void> {
    this.dropConnections();
    await Promise.all([
      new Promise<void>((resolve) => this.proxy.close(() => resolve())),
      new Promise<void>((resolve) => this.terminator.close(() => resolve())),
    ]);
    if (this.certDir !== null) await rm(this.certDir, { recursive: true, force: true });
  }
}

export interface LinkBytes {
  /** TCP payload: HTTP, and TLS records when TLS is on. */
  payload: number;
  /** Estimated TCP/IP headers. */
  headers: number;
  segments: number;
  connectionsOpened: number;
  byPurpose: Partial<Record<LinkPurpose, { payload: number; headers: number }>>;
}

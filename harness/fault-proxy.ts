// An HTTP proxy between a downloader and the real registry that misbehaves on purpose: it cuts blob responses at
// random offsets and flips bytes in chosen ones, and counts every body byte it passes on, so a test can compare
// what crossed the "link" with what the image needed. Randomness is seeded: a failing run can be repeated.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultPlan {
  /** Chance that a blob response is cut at a random offset of its body. */
  cutProbability: number;
  /** Flips one byte at a random offset of the first response for each listed blob digest. */
  corruptOnce?: Set<string>;
  /** Flips one byte in every response for each listed blob digest: a blob that never arrives intact. */
  corruptAlways?: Set<string>;
  seed: number;
}

export interface ProxiedRequest {
  method: string;
  path: string;
  range: string | null;
  status: number;
  /** Body bytes passed to the client. */
  bytes: number;
  cut: boolean;
  corrupted: boolean;
  /** Date.now() when the request arrived. */
  at: number;
}

/** mulberry32: small, seedable, good enough to place faults. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultProxy {
  readonly requests: ProxiedRequest[] = [];
  private readonly random: () => number;
  private readonly corruptPending: Set<string>;
  private server: http.Server | undefined;
  plan: FaultPlan;

  constructor(
    private readonly upstream: string,
    plan: FaultPlan,
  ) {
    this.plan = plan;
    this.random = seeded(plan.seed);
    this.corruptPending = new Set(plan.corruptOnce ?? []);
  }

  /** host:port to use in place of the registry's. */
  address(): string {
    const a = this.server?.address() as AddressInfo | undefined;
    if (a === undefined) throw new Error('fault proxy is not listening');
    return `127.0.0.1:${a.port}`;
  }

  bodyBytes(filter: (r: ProxiedRequest) => boolean = () => true): number {
    return this.requests.filter(filter).reduce((sum, r) => sum + r.bytes, 0);
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.forward(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())));
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const at = Date.now();
    const path = req.url ?? '/';
    const headers = { ...req.headers, host: this.upstream };
    const upstream = http.request(`http://${this.upstream}${path}`, { method: req.method, headers }, (answer) => {
      const blob = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path)?.[1];
      const length = Number(answer.headers['content-length'] ?? 0);
      const record: ProxiedRequest = {
        method: req.method ?? 'GET',
        path,
        range: req.headers.range ?? null,
        status: answer.statusCode ?? 0,
        bytes: 0,
        cut: false,
        corrupted: false,
        at,
      };
      this.requests.push(record);
      const faulty = blob !== undefined && (answer.statusCode === 200 || answer.statusCode === 206) && length > 1;
      const cutAt = faulty && this.random() < this.plan.cutProbability ? Math.floor(this.random() * length) : -1;
      const corrupts = faulty && (this.corruptPending.has(blob) || this.plan.corruptAlways?.has(blob) === true);
      const corruptAt = corrupts ? Math.floor(this.random() * length) : -1;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      let sent = 0;
      answer.on('data', (data: Buffer) => {
        if (record.cut) return;
        let piece = data;
        // A blob counts as corrupted once a flipped byte has actually gone out (a cut may come first).
        const flipsHere = corruptAt >= sent && corruptAt < sent + piece.length && !(cutAt >= 0 && cutAt <= corruptAt);
        if (flipsHere && blob !== undefined) {
          piece = Buffer.from(piece);
          const i = corruptAt - sent;
          piece[i] = (piece[i] ?? 0) ^ 0xff;
          record.corrupted = true;
          this.corruptPending.delete(blob);
        }
        if (cutAt >= 0 && sent + piece.length > cutAt) {
          const keep = piece.subarray(0, cutAt - sent);
          record.bytes += keep.length;
          record.cut = true;
          answer.destroy();
          // Flush what fits before the cut, then drop the connection without finishing the response.
          res.write(keep, () => res.socket?.destroy());
          return;
        }
        sent += piece.length;
        record.bytes += piece.length;
        res.write(piece);
      });
      answer.on('end', () => res.end());
      answer.on('error', () => res.socket?.destroy());
    });
    upstream.on('error', () => res.socket?.destroy());
    req.pipe(upstream);
  }
}

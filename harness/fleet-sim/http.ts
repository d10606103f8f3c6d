// The simulated fleet's one HTTP client: a single keep-alive agent whose sockets every simulated device shares for
// its polls and reports (as a NAT'd fleet looks to the API: many connections, each reused), plus one socket per
// open push channel. Requests beyond `maxInFlight` wait in a queue, so a fleet of 100,000 does not open 100,000
// sockets at once when its polls fall together. Answers are read whole but bounded: the simulator trusts the API
// no more than a device does.
import { Agent, request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

/** A target, a token or a problem is a few kB; an answer past this is refused. */
const MAX_BODY_BYTES = 1024 * 1024;

export interface SimRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** The loopback source address to connect from: 28,000 ephemeral ports per address limit one address. */
  localAddress?: string;
}

export interface SimAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** From the request's start to the whole answer read, in milliseconds (queueing in the simulator excluded). */
  ms: number;
}

export class SimRequestError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${method} ${path} got no answer: ${reason}`);
    this.name = 'SimRequestError';
  }
}

export interface SimHttpOptions {
  baseUrl: string;
  maxInFlight: number;
  timeoutMs: number;
}

export class SimHttp {
  readonly agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 1024 });
  private readonly host: string;
  private readonly port: number;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly options: SimHttpOptions) {
    const url = new URL(options.baseUrl);
    if (url.protocol !== 'http:') throw new Error(`the fleet simulator speaks plain HTTP on loopback, got ${url.href}`);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
  }

  get queued(): number {
    return this.waiting.length;
  }

  async send(req: SimRequest): Promise<SimAnswer> {
    await this.slot();
    try {
      return await this.once(req);
    } finally {
      this.release();
    }
  }

  /**
   * Opens a long-lived GET (the push channel): resolves with the answer's head, the body left to the caller. Until
   * the head arrives it takes a place like any request: a thousand channels opened at once would otherwise
   * overflow the server's accept queue, and the dropped connection attempts time out.
   */
  async open(req: SimRequest, signal: AbortSignal): Promise<IncomingMessage> {
    await this.slot();
    try {
      return await this.openOnce(req, signal);
    } finally {
      this.release();
    }
  }

  private async slot(): Promise<void> {
    if (this.inFlight >= this.options.maxInFlight) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.inFlight += 1;
  }

  private release(): void {
    this.inFlight -= 1;
    this.waiting.shift()?.();
  }

  private openOnce(req: SimRequest, signal: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const outgoing = request({
        host: this.host,
        port: this.port,
        agent: this.agent,
        method: req.method,
        path: req.path,
        headers: req.headers,
        signal,
        ...(req.localAddress === undefined ? {} : { localAddress: req.localAddress }),
      });
      outgoing.setTimeout(this.options.timeoutMs, () =>
        outgoing.destroy(new SimRequestError(req.method, req.path, 'no answer head in time')),
      );
      outgoing.once('response', (response) => {
        // Only the head is waited for: the stream itself stays quiet for as long as the heartbeat says.
        outgoing.setTimeout(0);
        resolve(response);
      });
      outgoing.once('error', (err) => reject(new SimRequestError(req.method, req.path, err.message)));
      outgoing.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private once(req: SimRequest): Promise<SimAnswer> {
    const started = performance.now();
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    return new Promise((resolve, reject) => {
      const outgoing = request(
        {
          host: this.host,
          port: this.port,
          agent: this.agent,
          method: req.method,
          path: req.path,
          headers: {
            accept: 'application/json',
            ...req.headers,
            ...(payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': String(payload.length) }),
          },
          ...(req.localAddress === undefined ? {} : { localAddress: req.localAddress }),
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
              response.destroy();
              reject(new SimRequestError(req.method, req.path, `answer longer than ${MAX_BODY_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          response.once('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: Buffer.concat(chunks).toString('utf8'),
              ms: performance.now() - started,
            }),
          );
          response.once('error', (err) => reject(new SimRequestError(req.method, req.path, err.message)));
        },
      );
      outgoing.setTimeout(this.options.timeoutMs, () =>
        outgoing.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`)),
      );
      outgoing.once('error', (err) => reject(new SimRequestError(req.method, req.path, err.message)));
      outgoing.end(payload);
    });
  }
}

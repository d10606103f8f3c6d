// A small Docker Engine API client over node:http, on the engine's unix socket or tcp://host:port. JSON in and
// out, or a stream for long answers (pull progress, save, logs). Paths carry no API version prefix, so the
// engine speaks its own current version (1.41 for Debian's 20.10), never one newer than it knows.
import http from 'node:http';
import { Readable } from 'node:stream';

export const DEFAULT_ENGINE_SOCKET = '/var/run/docker.sock';

export type EngineAddress = { socketPath: string } | { host: string; port: number };

/** Parses a DOCKER_HOST-style address: unix:///path, a bare /path, tcp://host:port or http://host:port. */
export function engineAddress(host: string | undefined): EngineAddress {
  if (host === undefined || host === '') return { socketPath: DEFAULT_ENGINE_SOCKET };
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('/')) return { socketPath: host };
  const match = /^(?:tcp|http):\/\/([^/:]+|\[[^\]]+\])(?::(\d+))?\/?$/.exec(host);
  if (match === null) {
    throw new Error(`unsupported docker host '${host}': use unix:///path/docker.sock or tcp://host:port`);
  }
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2] ?? '2375') };
}

/** The engine refused a request: its status code and its own message, with the request it answers. */
export class EngineError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly statusCode: number,
    readonly engineMessage: string,
  ) {
    super(`engine answered ${method} ${path} with ${statusCode}: ${engineMessage}`);
    this.name = 'EngineError';
  }
}

export function statusCodeOf(err: unknown): number | undefined {
  return err instanceof EngineError ? err.statusCode : undefined;
}

type QueryValue = string | number | boolean | string[] | undefined;

export interface EngineRequest {
  query?: Record<string, QueryValue>;
  /** A Readable is streamed as it is (set contentType); anything else is sent as JSON. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

function queryString(query: Record<string, QueryValue> | undefined): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) params.append(key, String(v));
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

function messageOf(body: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === 'object' && 'message' in parsed && typeof parsed.message === 'string') {
      return parsed.message;
    }
  } catch {
    // Not JSON: the text itself is the message.
  }
  return body.trim() || '(no message)';
}

export class EngineClient {
  readonly address: EngineAddress;

  constructor(host: string | undefined) {
    this.address = engineAddress(host);
  }

  /** On this host's filesystem (a unix socket), so paths the engine reports can be looked at directly. */
  get local(): boolean {
    return 'socketPath' in this.address;
  }

  describe(): string {
    return 'socketPath' in this.address
      ? `unix://${this.address.socketPath}`
      : `tcp://${this.address.host}:${this.address.port}`;
  }

  /** Sends the request and returns the answer's parsed JSON (undefined when the body is empty). */
  async json(method: string, path: string, request: EngineRequest = {}): Promise<unknown> {
    const response = await this.stream(method, path, request);
    const text = await readAll(response);
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new Error(`engine answered ${method} ${path} with a body that is not JSON: ${String(err)}`);
    }
  }

  /** Sends the request and returns the answer's body as a stream, once its status says success (2xx). */
  stream(method: string, path: string, request: EngineRequest = {}): Promise<http.IncomingMessage> {
    const target = `${path}${queryString(request.query)}`;
    const headers: Record<string, string> = { ...request.headers };
    let payload: Buffer | Readable | undefined;
    if (request.body instanceof Readable) {
      payload = request.body;
      headers['Content-Type'] = request.contentType ?? 'application/octet-stream';
    } else if (request.body !== undefined) {
      payload = Buffer.from(JSON.stringify(request.body));
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const where =
      'socketPath' in this.address
        ? { socketPath: this.address.socketPath }
        : { host: this.address.host, port: this.address.port };
    return new Promise((resolve, reject) => {
      const req = http.request({ ...where, method, path: target, headers }, (response) => {
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          resolve(response);
          return;
        }
        readAll(response).then(
          (body) => reject(new EngineError(method, path, status, messageOf(body))),
          (err: unknown) => reject(new EngineError(method, path, status, `(body unreadable: ${String(err)})`)),
        );
      });
      req.on('error', (err) =>
        reject(new Error(`engine at ${this.describe()} unreachable for ${method} ${path}: ${err.message}`)),
      );
      if (payload instanceof Readable) {
        payload.on('error', (err) =>
          req.destroy(new Error(`request body for ${method} ${path} failed: ${err.message}`)),
        );
        payload.pipe(req);
      } else {
        req.end(payload);
      }
    });
  }

  /** Resolves once the engine answers; its answer is plain text, not JSON. */
  async ping(): Promise<void> {
    await readAll(await this.stream('GET', '/_ping'));
  }
}

// Sits between a device and the real registry-api and passes every request and answer through, except that, while
// `tamper` is set, it rewrites the target states the API serves: altered in transit (the API's signature no longer
// fits), or, with `sign`, signed anew as if the API itself had served the rewritten target. The real API never
// serves a target a device must refuse; this is how a test of the refusal still registers and reports to it.
// It also records every target answer the API gave and can replay a recorded one later, or one recorded for
// another device, in place of the API's answer: the replay and freeze attacks of a man in the middle.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { SIGNATURE_HEADER } from '../protocol/signature.js';
import type { TargetState } from '../protocol/target-state.js';
import { messageOf } from '../lib/errors.js';

const TARGET_PATH = /^\/v1\/device\/([^/?]+)\/target$/;

/** A target answer as the API gave it: its exact body and headers (signature, ETag), and the target in it. */
export interface RecordedTarget {
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly target: TargetState;
}
/** Headers that describe one hop's connection or encoding, not the content (fetch has decoded the body). */
const HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'content-encoding',
  'host',
]);

export class TamperingProxy {
  /** Rewrites each target state the API serves while set. */
  tamper: ((target: unknown) => unknown) | null = null;
  /** Signs a rewritten target (a Skiff-Signature value); unset, the API's own signature passes through unchanged. */
  sign: ((target: TargetState) => string) | null = null;
  /** Drops the Skiff-Signature header from target answers: an unsigned target, as a rogue server would serve it. */
  unsigned = false;
  /** Every 200 target answer that came from the API, oldest first, by the uuid of the polled path. */
  readonly recorded = new Map<string, RecordedTarget[]>();
  /**
   * While set, a target poll of the device with this uuid is answered with what it returns (200, byte for byte as
   * recorded) instead of being passed to the API; null lets that poll through.
   */
  replay: ((uuid: string) => RecordedTarget | null) | null = null;
  /** Target polls answered by `replay`. */
  replayed = 0;
  private server: Server | undefined;

  constructor(private readonly upstream: string) {}

  async listen(): Promise<string> {
    const server = createServer((req, res) => {
      this.forward(req, res).catch((err: unknown) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`proxy to ${this.upstream} failed: ${messageOf(err)}`);
      });
    });
    this.server = server;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_HEADERS.has(name))
        headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const method = req.method ?? 'GET';
    const polled = method === 'GET' ? TARGET_PATH.exec(req.url ?? '')?.[1] : undefined;
    const replayed = polled === undefined ? null : (this.replay?.(polled) ?? null);
    if (replayed !== null) {
      this.replayed++;
      res.writeHead(200, { ...replayed.headers, 'content-length': String(replayed.body.length) });
      res.end(replayed.body);
      return;
    }
    const answer = await fetch(`${this.upstream}${req.url ?? '/'}`, {
      method,
      headers,
      body: chunks.length === 0 ? undefined : Buffer.concat(chunks),
    });
    let body = Buffer.from(await answer.arrayBuffer());
    const out: Record<string, string> = {};
    answer.headers.forEach((value, name) => {
      if (!HOP_HEADERS.has(name)) out[name] = value;
    });
    if (polled !== undefined && answer.status === 200) {
      const list = this.recorded.get(polled) ?? [];
      list.push({ body, headers: { ...out }, target: JSON.parse(body.toString('utf8')) as TargetState });
      this.recorded.set(polled, list);
    }
    if (this.tamper !== null && method === 'GET' && answer.status === 200 && TARGET_PATH.test(req.url ?? '')) {
      const rewritten = this.tamper(JSON.parse(body.toString('utf8')));
      body = Buffer.from(JSON.stringify(rewritten));
      // The API's tag names the content it sent, not this one.
      delete out.etag;
      if (this.sign !== null) out[SIGNATURE_HEADER.toLowerCase()] = this.sign(rewritten as TargetState);
    }
    if (this.unsigned && method === 'GET' && TARGET_PATH.test(req.url ?? '')) {
      delete out[SIGNATURE_HEADER.toLowerCase()];
      delete out.etag;
    }
    res.writeHead(answer.status, out);
    res.end(body);
  }
}

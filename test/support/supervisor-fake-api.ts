// A stand-in for registry-api's device endpoints, speaking protocol/api.ts over real HTTP: registration, target
// with ETag, state reports (validated against StateReportSchema, so the supervisor's side of the contract is
// checked too). No test uses it any more (they run the real API, test/support/api-server.ts); it stays only because
// bench/support/memory.ts imports it. It serves unsigned targets, which a supervisor refuses since targets are
// signed (protocol/signature.ts): the bench should move to api-server.ts, and this file then be deleted.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { paths, RegisterRequestSchema } from '../../protocol/api.js';
import { StateReportSchema, type StateReport } from '../../protocol/state-report.js';
import { check, parse } from '../../protocol/validate.js';

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  ifNoneMatch: string | undefined;
  status: number;
}

export class FakeDeviceApi {
  readonly requests: RecordedRequest[] = [];
  readonly reports: StateReport[] = [];
  /** Reports that did not match StateReportSchema, with the issues. */
  readonly invalidReports: string[] = [];
  readonly deviceKey = 'test-device-key-0001';
  /** The target served for a device uuid; any JSON value, so tests can serve broken ones. */
  target: (uuid: string) => unknown = () => null;
  private server: Server | undefined;

  async listen(): Promise<string> {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())));
  }

  count(method: string, pathPart: string, status?: number): number {
    return this.requests.filter((r) => r.method === method && r.path.includes(pathPart) && (status === undefined || r.status === status)).length;
  }

  lastReport(): StateReport | undefined {
    return this.reports.at(-1);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    const path = req.url ?? '';
    const answer = (status: number, value?: unknown, headers: Record<string, string> = {}): void => {
      this.requests.push({
        method: req.method ?? '',
        path,
        authorization: req.headers.authorization,
        ifNoneMatch: req.headers['if-none-match'],
        status,
      });
      res.writeHead(status, { ...(value === undefined ? {} : { 'content-type': 'application/json' }), ...headers });
      res.end(value === undefined ? undefined : JSON.stringify(value));
    };
    const problem = (status: number, detail: string): void =>
      answer(status, { type: 'about:blank', title: 'error', status, detail });

    if (req.method === 'POST' && path === paths.register) {
      const request = parse(RegisterRequestSchema, JSON.parse(body), 'register request');
      answer(200, { uuid: request.uuid, name: request.name ?? `device-${request.uuid.slice(0, 6)}`, fleet: request.fleet, deviceKey: this.deviceKey });
      return;
    }
    const match = /^\/v1\/device\/([^/]+)\/(target|state)$/.exec(path);
    if (match === null) return problem(404, `no route ${req.method ?? ''} ${path}`);
    if (req.headers.authorization !== `Bearer ${this.deviceKey}`) return problem(401, 'bad device key');
    const uuid = decodeURIComponent(match[1] ?? '');
    if (req.method === 'GET' && match[2] === 'target') {
      const text = JSON.stringify(this.target(uuid));
      const etag = `"${createHash('sha256').update(text).digest('hex').slice(0, 16)}"`;
      if (req.headers['if-none-match'] === etag) return answer(304, undefined, { etag });
      answer(200, JSON.parse(text), { etag });
      return;
    }
    if (req.method === 'PATCH' && match[2] === 'state') {
      const value: unknown = JSON.parse(body);
      const issues = check(StateReportSchema, value);
      if (issues.length > 0) {
        this.invalidReports.push(JSON.stringify(issues));
        return problem(400, 'invalid state report');
      }
      this.reports.push(value as StateReport);
      return answer(204);
    }
    problem(405, `${req.method ?? ''} not allowed on ${path}`);
  }
}

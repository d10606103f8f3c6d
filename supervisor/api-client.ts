// The supervisor's side of the device API (protocol/api.ts): register, fetch the target, report state. Every
// answer is validated here, at the edge; callers get typed values or an ApiError that says what failed where.
import { paths, RegisterResponseSchema, type RegisterRequest, type RegisterResponse } from '../protocol/api.js';
import { SIGNATURE_HEADER } from '../protocol/signature.js';
import type { StateReport } from '../protocol/state-report.js';
import { parse } from '../protocol/validate.js';
import { messageOf } from '../lib/errors.js';
import { acceptSignedTarget, type SignedTarget, type TargetKey } from './target.js';

export class ApiError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    /** Null when no answer arrived (refused, timed out, DNS). */
    readonly status: number | null,
    readonly detail: string,
  ) {
    super(`${method} ${url} ${status === null ? 'failed' : `answered ${status}`}: ${detail}`);
    this.name = 'ApiError';
  }
}

export type TargetFetch =
  | ({ changed: true; etag: string | null } & SignedTarget)
  | { changed: false };

export interface ApiClientOptions {
  baseUrl: string;
  deviceKey?: string;
  /** What target states must be signed with; without it (null or absent) every target is refused. */
  targetKey?: TargetKey;
  timeoutMs?: number;
}

/** The `detail` of a problem answer, else the start of the body. */
async function detailOf(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const problem = JSON.parse(text) as { detail?: unknown; title?: unknown };
    if (typeof problem.detail === 'string') return problem.detail;
    if (typeof problem.title === 'string') return problem.title;
  } catch {
    // Not JSON: the text itself is the best detail there is.
  }
  return text.slice(0, 500) || response.statusText;
}

export class ApiClient {
  private readonly timeoutMs: number;

  constructor(private readonly options: ApiClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** The client a registered device uses: its key on every request, targets checked against the API's key. */
  forDevice(deviceKey: string, targetKey: TargetKey): ApiClient {
    return new ApiClient({ ...this.options, deviceKey, targetKey });
  }

  private async request(method: string, pathname: string, init: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Response> {
    // Joined as text, not resolved as a URL, so an API behind a path prefix (https://host/skiff) keeps it.
    const url = `${this.options.baseUrl.replace(/\/+$/, '')}${pathname}`;
    const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
    if (this.options.deviceKey !== undefined) headers.authorization = `Bearer ${this.options.deviceKey}`;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      // fetch hides the system error (ECONNREFUSED...) in `cause`.
      const cause = err instanceof Error && err.cause !== undefined ? `: ${messageOf(err.cause)}` : '';
      throw new ApiError(method, url, null, `${messageOf(err)}${cause}`);
    }
    if (response.status >= 400) throw new ApiError(method, url, response.status, await detailOf(response));
    return response;
  }

  private async json(response: Response, method: string): Promise<unknown> {
    try {
      return await response.json();
    } catch (err) {
      throw new ApiError(method, response.url, response.status, `body is not JSON: ${messageOf(err)}`);
    }
  }

  async register(request: RegisterRequest): Promise<RegisterResponse> {
    const response = await this.request('POST', paths.register, { body: request });
    return parse(RegisterResponseSchema, await this.json(response, 'POST'), 'registration answer');
  }

  /** 304 means the target behind `etag` still holds; a 200 answer must pass acceptSignedTarget. */
  async fetchTarget(uuid: string, etag: string | null): Promise<TargetFetch> {
    const headers: Record<string, string> = etag === null ? {} : { 'if-none-match': etag };
    const response = await this.request('GET', paths.target(uuid), { headers });
    if (response.status === 304) return { changed: false };
    const signed = acceptSignedTarget(
      await this.json(response, 'GET'),
      response.headers.get(SIGNATURE_HEADER),
      this.options.targetKey ?? null,
      uuid,
      'target state from the API',
    );
    return { changed: true, ...signed, etag: response.headers.get('etag') };
  }

  async reportState(uuid: string, report: StateReport): Promise<void> {
    const response = await this.request('PATCH', paths.state(uuid), { body: report });
    await response.body?.cancel();
  }
}

// The supervisor's side of the device API (protocol/http/device-api.ts, whose declarations give each request its
// method and path): authenticate, fetch the target, report state, post logs, open the push channel. Every answer is
// validated here, at the edge; callers get typed values or an ApiError that says what failed where.
import {
  DEVICE_SIGNATURE_HEADER,
  DeviceAuthPendingSchema,
  DeviceAuthResponseSchema,
  type DeviceAuthPending,
  type DeviceAuthResponse,
} from '../../protocol/device-auth.js';
import type { LogBatch } from '../../protocol/device-logs.js';
import {
  DeviceActionOrdersSchema,
  type DeviceActionOrder,
  type DeviceActionResult,
} from '../../protocol/device-actions.js';
import { DEVICE_ACTION_API_ROUTES } from '../../protocol/http/device-actions.js';
import { DEVICE_API_ROUTES as ROUTES } from '../../protocol/http/device-api.js';
import { pathOf } from '../../protocol/http/route.js';
import { DEVICE_REMOTE_ACCESS_ROUTES, TunnelKeyAnswerSchema } from '../../protocol/http/remote-access.js';
import { SIGNATURE_HEADER } from '../../protocol/signature.js';
import type { PartialStateReport, StateReport } from '../../protocol/state-report.js';
import { parse } from '../../protocol/validate.js';
import { messageOf } from '../../lib/errors.js';
import { HEARTBEAT_HEADER, announcedHeartbeatSeconds } from '../../protocol/device-events.js';
import type { TrafficPurpose } from '../../protocol/state-report.js';
import { httpRequest, HttpRequestError, type HttpResponse, type TransferredBytes } from '../../lib/http-request.js';
import { acceptSignedTarget, type SignedTarget, type TargetKey } from '../target/gate.js';
import type { ReleaseTrust } from '../target/release-signature.js';

export class ApiError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    /** Null when no answer arrived (refused, timed out, DNS). */
    readonly status: number | null,
    readonly detail: string,
    /** The problem's type (urn:skiff:problem:KIND), when the answer was a problem. */
    readonly problemType: string | null = null,
    /** The answer's Date header: the API's clock, for a device whose own clock is off. */
    readonly serverDate: Date | null = null,
  ) {
    super(`${method} ${url} ${status === null ? 'failed' : `answered ${status}`}: ${detail}`);
    this.name = 'ApiError';
  }
}

export type TargetFetch = ({ changed: true; etag: string | null } & SignedTarget) | { changed: false };

/** Where a device client gets its bearer token, and a new one when the API refuses it (session.ts). */
export interface DeviceCredentials {
  token(): string;
  /** Authenticates again; resolves with the new token. */
  renew(): Promise<string>;
}

export type AuthAnswer =
  | { kind: 'accepted'; answer: DeviceAuthResponse }
  | { kind: 'pending'; answer: DeviceAuthPending };

export interface ApiClientOptions {
  baseUrl: string;
  credentials?: DeviceCredentials;
  /** What target states must be signed with; without it (null or absent) every target is refused. */
  targetKey?: TargetKey;
  /** The release keys the device trusts; null or absent: releases need no developer signature. */
  releaseTrust?: ReleaseTrust | null;
  timeoutMs?: number;
  /** Told the HTTP bytes of every request once it is over, with what it was for (../device/traffic.ts). */
  onBytes?: (purpose: TrafficPurpose, bytes: TransferredBytes) => void;
}

/** An open push channel: its event stream and the heartbeat period the API announced (null: none announced). */
export interface OpenedEvents {
  body: NonNullable<HttpResponse['body']>;
  heartbeatSeconds: number | null;
}

type RequestInit = { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal; purpose: TrafficPurpose };

/** The error for a 4xx/5xx answer: the problem's `detail` (else the start of the body) and type, the API's clock. */
async function errorOf(method: string, url: string, response: HttpResponse): Promise<ApiError> {
  const text = await response.text().catch(() => '');
  const dateHeader = response.headers.get('date');
  const serverDate = dateHeader === null || Number.isNaN(Date.parse(dateHeader)) ? null : new Date(dateHeader);
  let detail = text.slice(0, 500) || response.statusText;
  let problemType: string | null = null;
  try {
    const problem = JSON.parse(text) as { detail?: unknown; title?: unknown; type?: unknown };
    if (typeof problem.detail === 'string') detail = problem.detail;
    else if (typeof problem.title === 'string') detail = problem.title;
    if (typeof problem.type === 'string') problemType = problem.type;
  } catch {
    // Not JSON: the text itself is the best detail there is.
  }
  return new ApiError(method, url, response.status, detail, problemType, serverDate);
}

export class ApiClient {
  private readonly timeoutMs: number;

  constructor(private readonly options: ApiClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** The client an admitted device uses: its token on every request, targets checked against the API's key. */
  forDevice(credentials: DeviceCredentials, targetKey: TargetKey, releaseTrust: ReleaseTrust | null = null): ApiClient {
    return new ApiClient({ ...this.options, credentials, targetKey, releaseTrust });
  }

  private async request(method: string, pathname: string, init: RequestInit): Promise<HttpResponse> {
    const credentials = this.options.credentials;
    if (credentials === undefined) return this.send(method, pathname, init);
    try {
      return await this.send(method, pathname, {
        ...init,
        headers: { ...init.headers, authorization: `Bearer ${credentials.token()}` },
      });
    } catch (err) {
      // An expired or revoked token: authenticate again once, then repeat the request with the new token.
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      const renewed = await credentials.renew();
      return this.send(method, pathname, { ...init, headers: { ...init.headers, authorization: `Bearer ${renewed}` } });
    }
  }

  private async send(method: string, pathname: string, init: RequestInit): Promise<HttpResponse> {
    // Joined as text, not resolved as a URL, so an API behind a path prefix (https://host/skiff) keeps it.
    const url = `${this.options.baseUrl.replace(/\/+$/, '')}${pathname}`;
    const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    let response: HttpResponse;
    try {
      response = await httpRequest(url, {
        method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        // A stream (the events channel) brings its own signal: a timeout would cut it mid-stream.
        signal: init.signal ?? AbortSignal.timeout(this.timeoutMs),
        ...(this.options.onBytes === undefined
          ? {}
          : { onBytes: (bytes: TransferredBytes) => this.options.onBytes?.(init.purpose, bytes) }),
      });
    } catch (err) {
      // No answer: the system error (ECONNREFUSED...) or the timeout.
      throw new ApiError(method, url, null, messageOf(err instanceof HttpRequestError ? err.cause : err));
    }
    if (response.status >= 400) throw await errorOf(method, url, response);
    return response;
  }

  private async json(response: HttpResponse, method: string): Promise<unknown> {
    try {
      return await response.json();
    } catch (err) {
      throw new ApiError(method, response.url, response.status, `body is not JSON: ${messageOf(err)}`);
    }
  }

  /**
   * POST the auth request with a body the caller signed (`signature`, protocol/device-auth.ts). `legacyKey`: the
   * bearer key of a device from before device keys, proving it is that device. 4xx answers throw an ApiError.
   */
  async authenticate(body: unknown, signature: string, legacyKey?: string): Promise<AuthAnswer> {
    const headers: Record<string, string> = { [DEVICE_SIGNATURE_HEADER]: signature };
    if (legacyKey !== undefined) headers.authorization = `Bearer ${legacyKey}`;
    const route = ROUTES.deviceAuth;
    const response = await this.send(route.method, pathOf(route), { body, headers, purpose: 'auth' });
    const answer = await this.json(response, route.method);
    return response.status === 202
      ? { kind: 'pending', answer: parse(DeviceAuthPendingSchema, answer, 'the pending answer to auth') }
      : { kind: 'accepted', answer: parse(DeviceAuthResponseSchema, answer, 'the answer to auth') };
  }

  /** 304 means the target behind `etag` still holds; a 200 answer must pass acceptSignedTarget. */
  async fetchTarget(uuid: string, etag: string | null): Promise<TargetFetch> {
    const headers: Record<string, string> = etag === null ? {} : { 'if-none-match': etag };
    const route = ROUTES.deviceTarget;
    const response = await this.request(route.method, pathOf(route, { uuid }), { headers, purpose: 'polls' });
    if (response.status === 304) return { changed: false };
    const signed = acceptSignedTarget(
      await this.json(response, route.method),
      response.headers.get(SIGNATURE_HEADER),
      this.options.targetKey ?? null,
      uuid,
      'target state from the API',
      this.options.releaseTrust ?? null,
    );
    return { changed: true, ...signed, etag: response.headers.get('etag') };
  }

  /**
   * Sends a full report, or (with `basedOn`, the ETag of the report it was computed against) only the fields that
   * changed. Returns the ETag of the report the API now holds; null from an API that gives none.
   */
  async reportState(
    uuid: string,
    report: StateReport | PartialStateReport,
    basedOn: string | null = null,
  ): Promise<string | null> {
    const headers: Record<string, string> = basedOn === null ? {} : { 'if-match': basedOn };
    const route = ROUTES.deviceState;
    const response = await this.request(route.method, pathOf(route, { uuid }), {
      body: report,
      headers,
      purpose: 'reports',
    });
    await response.body?.cancel();
    return response.headers.get('etag');
  }

  /** Sends a batch of log lines someone asked for (protocol/device-logs.ts). */
  async postLogs(uuid: string, batch: LogBatch): Promise<void> {
    const route = ROUTES.postDeviceLogs;
    const response = await this.request(route.method, pathOf(route, { uuid }), { body: batch, purpose: 'logs' });
    await response.body?.cancel();
  }

  /**
   * Registers the public half of the device's tunnel key; answers the port the API assigned on the jump host, null
   * from an API without one.
   */
  async registerTunnelKey(uuid: string, publicKey: string): Promise<number | null> {
    const route = DEVICE_REMOTE_ACCESS_ROUTES.registerTunnelKey;
    const response = await this.request(route.method, pathOf(route, { uuid }), {
      body: { publicKey },
      purpose: 'other',
    });
    return parse(TunnelKeyAnswerSchema, await this.json(response, route.method), 'the answer to the tunnel key')
      .remotePort;
  }

  /** Takes the remote actions waiting for the device (protocol/device-actions.ts); each is handed out once. */
  async takeActions(uuid: string): Promise<DeviceActionOrder[]> {
    const route = DEVICE_ACTION_API_ROUTES.pendingDeviceActions;
    const response = await this.request(route.method, pathOf(route, { uuid }), { purpose: 'other' });
    return parse(DeviceActionOrdersSchema, await this.json(response, route.method), 'the actions from the API');
  }

  /** Tells the API what came of an action (with its diagnostics bundle for a diagnose action). */
  async postActionResult(uuid: string, id: string, result: DeviceActionResult): Promise<void> {
    const route = DEVICE_ACTION_API_ROUTES.deviceActionResult;
    const response = await this.request(route.method, pathOf(route, { uuid, action: id }), {
      body: result,
      purpose: 'other',
    });
    await response.body?.cancel();
  }

  /** Opens the push channel (protocol/device-events.ts); the body is the event stream, ended by `signal`. */
  async openEvents(uuid: string, signal: AbortSignal): Promise<OpenedEvents> {
    const route = ROUTES.deviceEvents;
    const response = await this.request(route.method, pathOf(route, { uuid }), {
      headers: { accept: 'text/event-stream' },
      signal,
      purpose: 'push',
    });
    const type = response.headers.get('content-type') ?? '';
    if (response.body === null || !type.startsWith('text/event-stream')) {
      await response.body?.cancel();
      throw new ApiError(
        route.method,
        response.url,
        response.status,
        `expected an event stream, got '${type || 'no body'}'`,
      );
    }
    return { body: response.body, heartbeatSeconds: announcedHeartbeatSeconds(response.headers.get(HEARTBEAT_HEADER)) };
  }
}

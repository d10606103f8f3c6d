// The CLI's side of fleet logs (protocol/device-logs.ts): a device's last lines as JSON, or the follow stream's
// server-sent events, each validated before it is shown. Failures are the API client's (api-client.ts) kinds.
import {
  DEFAULT_WAIT_SECONDS,
  DeviceLogsSchema,
  GAP_EVENT,
  GapEventSchema,
  LINES_EVENT,
  LinesEventSchema,
  type DeviceLogs,
  type GapEvent,
  type LinesEvent,
} from '../protocol/device-logs.js';
import { LOG_ROUTES } from '../protocol/http/logs.js';
import { parse, ValidationError } from '../protocol/validate.js';
import { fetchFailureReason } from '../lib/errors.js';
import { sseEventsOf } from '../lib/sse.js';
import { ApiAnswerError, ApiClient, ApiUnreachableError } from './api-client.js';

export interface LogsQuery {
  services?: string[];
  /** Kept as typed: the API says what is wrong with it. */
  tail?: string;
  wait?: string;
}

export type FollowEvent = { kind: 'lines'; event: LinesEvent } | { kind: 'gap'; event: GapEvent };

/** Beyond the seconds the API waits for the device: its answer still has to travel. */
const ANSWER_MARGIN_MS = 15_000;
/** The API sends a heartbeat every 15 s: this long without a byte means a dead connection. */
const FOLLOW_SILENCE_MS = 60_000;

function queryOf(query: LogsQuery): URLSearchParams {
  const params = new URLSearchParams();
  for (const service of query.services ?? []) params.append('service', service);
  if (query.tail !== undefined) params.set('tail', query.tail);
  if (query.wait !== undefined) params.set('wait', query.wait);
  return params;
}

function jsonOf(request: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ApiAnswerError(
      request,
      `an answer that is not JSON (${err instanceof Error ? err.message : String(err)})`,
    );
  }
}

export class DeviceLogsClient {
  private readonly api: ApiClient;

  /** Through the CLI's one API client: the same headers, token and errors as every other call. */
  constructor(baseUrl: string, token: string | null) {
    this.api = new ApiClient({ baseUrl, token });
  }

  /** Opens one of the two log routes for device `uuid`; its headers are in once the device's snapshot is. */
  private open(
    route: (typeof LOG_ROUTES)[keyof typeof LOG_ROUTES],
    uuid: string,
    query: LogsQuery,
    signal: AbortSignal,
  ): Promise<{ request: string; response: Response }> {
    return this.api.open(route, { uuid }, { query: queryOf(query), signal });
  }

  /** The device's last lines, fetched from it now. */
  async snapshot(uuid: string, query: LogsQuery): Promise<DeviceLogs> {
    const waitMs = (Number(query.wait ?? DEFAULT_WAIT_SECONDS) || DEFAULT_WAIT_SECONDS) * 1000;
    const signal = AbortSignal.timeout(waitMs + ANSWER_MARGIN_MS);
    const { request, response } = await this.open(LOG_ROUTES.deviceLogs, uuid, query, signal);
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      throw new ApiUnreachableError(response.url, fetchFailureReason(err));
    }
    return parse(DeviceLogsSchema, jsonOf(request, text), `the answer to ${request}`);
  }

  /** The last lines, then every new one, until `signal` ends it; returns when the API closes the stream. */
  async *follow(uuid: string, query: LogsQuery, signal: AbortSignal): AsyncGenerator<FollowEvent> {
    const connection = new AbortController();
    const hangUp = (): void => connection.abort();
    signal.addEventListener('abort', hangUp);
    // The headers come once the device's snapshot is in: the API's own wait bounds that part.
    let opened: { request: string; response: Response };
    try {
      opened = await this.open(LOG_ROUTES.followDeviceLogs, uuid, query, connection.signal);
    } catch (err) {
      signal.removeEventListener('abort', hangUp);
      throw err;
    }
    const { request, response } = opened;
    if (response.body === null) throw new ApiAnswerError(request, 'the follow stream has no body');
    const silent = (): void => connection.abort(new Error(`no byte from the API for ${FOLLOW_SILENCE_MS / 1000} s`));
    try {
      for await (const event of sseEventsOf(response.body, FOLLOW_SILENCE_MS, silent)) {
        if (event.event === LINES_EVENT) {
          yield {
            kind: 'lines',
            event: parse(LinesEventSchema, jsonOf(request, event.data), `a '${LINES_EVENT}' event of ${request}`),
          };
        } else if (event.event === GAP_EVENT) {
          yield {
            kind: 'gap',
            event: parse(GapEventSchema, jsonOf(request, event.data), `a '${GAP_EVENT}' event of ${request}`),
          };
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ValidationError || err instanceof ApiAnswerError) throw err;
      const reason =
        connection.signal.reason instanceof Error ? connection.signal.reason.message : fetchFailureReason(err);
      throw new ApiUnreachableError(response.url, reason);
    } finally {
      signal.removeEventListener('abort', hangUp);
      connection.abort();
    }
  }
}

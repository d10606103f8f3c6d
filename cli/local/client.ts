// The CLI's door to one device's local API (protocol/local-api.ts), for local mode: the address a developer types,
// the key, and failures that say which device, what it answered and what to do about it.
import { readFile } from 'node:fs/promises';
import type { TSchema, Static } from '@sinclair/typebox';
import {
  DEFAULT_LOCAL_API_PORT,
  LocalApiErrorBodySchema,
  LocalStateSchema,
  LocalTargetAnswerSchema,
  LocalTargetRequestSchema,
  localPaths,
  type LocalState,
  type LocalTargetAnswer,
  type LocalTargetRequest,
} from '../../protocol/local-api.js';
import { check, parse } from '../../protocol/validate.js';
import { fetchFailureReason } from '../../lib/errors.js';

export const LOCAL_KEY_ENV = 'SKIFF_LOCAL_API_KEY';
const DEFAULT_TIMEOUT_MS = 30_000;
const REACH_HINT =
  "the local API listens on 127.0.0.1 unless the device's config.json sets localApiHost: " +
  'reach it over an SSH tunnel (ssh -L 48484:127.0.0.1:48484 DEVICE, then use 127.0.0.1) or set localApiHost on a development device';
const KEY_HINT =
  "the key is the device's DATA_DIR/local-api.key (pass it with --key, --key-file or SKIFF_LOCAL_API_KEY)";

/**
 * The local API's base URL from what a person types: HOST, HOST:PORT, [IPv6]:PORT, a bare IPv6 address, or
 * http(s)://HOST:PORT. The port defaults to the local API's own.
 */
export function localApiUrl(address: string): string {
  const trimmed = address.trim();
  const bareIpv6 = !trimmed.includes('://') && !trimmed.startsWith('[') && (trimmed.match(/:/g) ?? []).length > 1;
  const withScheme = trimmed.includes('://') ? trimmed : `http://${bareIpv6 ? `[${trimmed}]` : trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`the device address '${address}' is not understood (expected HOST, HOST:PORT or http://HOST:PORT)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`the device address '${address}' must be http:// or https://, not ${url.protocol}`);
  }
  if (
    url.hostname === '' ||
    (url.pathname !== '/' && url.pathname !== '') ||
    url.search !== '' ||
    url.username !== ''
  ) {
    throw new Error(
      `the device address '${address}' must be just a host and port (expected HOST, HOST:PORT or http://HOST:PORT)`,
    );
  }
  if (url.port === '' && !trimmed.includes('://')) url.port = String(DEFAULT_LOCAL_API_PORT);
  return url.origin;
}

export interface KeyOptions {
  key?: string;
  keyFile?: string;
}

/** --key, else --key-file, else SKIFF_LOCAL_API_KEY: every route that matters needs it. */
export async function resolveLocalKey(options: KeyOptions, env: NodeJS.ProcessEnv): Promise<string> {
  if (options.key !== undefined && options.keyFile !== undefined)
    throw new Error('pass either --key or --key-file, not both');
  if (options.key !== undefined) return options.key.trim();
  if (options.keyFile !== undefined) {
    let text: string;
    try {
      text = await readFile(options.keyFile, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the local API key file ${options.keyFile}: ${(err as Error).message}`);
    }
    const key = text.trim();
    if (key === '') throw new Error(`the local API key file ${options.keyFile} is empty`);
    return key;
  }
  const fromEnv = env[LOCAL_KEY_ENV]?.trim();
  if (fromEnv) return fromEnv;
  throw new Error(`the device's local API needs its key: ${KEY_HINT}`);
}

/** The device answered with an error status; `issues` name the fields of a refused body. */
export class LocalApiAnswerError extends Error {
  constructor(
    readonly request: string,
    readonly status: number,
    readonly issues: { path: string; message: string }[],
    message: string,
  ) {
    super(message);
    this.name = 'LocalApiAnswerError';
  }
}

export class LocalApiClient {
  readonly baseUrl: string;

  constructor(
    address: string,
    private readonly key: string,
    private readonly timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {
    this.baseUrl = localApiUrl(address);
  }

  async state(): Promise<LocalState> {
    return this.call('GET', localPaths.state, LocalStateSchema);
  }

  async putTarget(request: LocalTargetRequest): Promise<LocalTargetAnswer> {
    const body = parse(LocalTargetRequestSchema, request, 'the local target');
    return this.call('PUT', localPaths.localTarget, LocalTargetAnswerSchema, body);
  }

  /** False when the device was not in local mode. */
  async leave(): Promise<boolean> {
    try {
      await this.call('DELETE', localPaths.localTarget, null);
      return true;
    } catch (err) {
      if (err instanceof LocalApiAnswerError && err.status === 404) return false;
      throw err;
    }
  }

  private async call<T extends TSchema>(
    method: string,
    pathname: string,
    schema: T,
    body?: unknown,
  ): Promise<Static<T>>;
  private async call(method: string, pathname: string, schema: null, body?: unknown): Promise<null>;
  private async call<T extends TSchema>(
    method: string,
    pathname: string,
    schema: T | null,
    body?: unknown,
  ): Promise<Static<T> | null> {
    const url = `${this.baseUrl}${pathname}`;
    const request = `${method} ${url}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.key}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const reason = fetchFailureReason(err);
      // fetch() will not open the ports browsers block (e.g. 9, 22, 25): say so rather than the bare "bad port".
      const why =
        reason === 'bad port'
          ? `port ${new URL(this.baseUrl).port} is one fetch() refuses to use; choose another`
          : reason;
      throw new Error(`could not reach the device's local API at ${this.baseUrl}: ${why}\n  hint: ${REACH_HINT}`);
    }
    const text = await response.text();
    let value: unknown = null;
    if (text !== '') {
      try {
        value = JSON.parse(text);
      } catch {
        value = undefined;
      }
    }
    if (!response.ok) throw this.answerError(request, response.status, value, text);
    if (schema === null) return null;
    if (value === undefined || check(schema, value).length > 0) {
      throw new Error(
        `${request}: the device answered ${response.status} with a body this CLI does not understand ` +
          '(is it a Skiff supervisor of another version?)',
      );
    }
    return value as Static<T>;
  }

  private answerError(request: string, status: number, value: unknown, text: string): LocalApiAnswerError {
    const body =
      check(LocalApiErrorBodySchema, value).length === 0
        ? parse(LocalApiErrorBodySchema, value, 'the error answer')
        : null;
    const issues = body?.issues ?? [];
    const error = body?.error ?? (text.trim().slice(0, 200) || 'no reason given');
    // A refused body's message lists its issues too; they follow one a line.
    const said = issues.length > 0 ? error.replace(/ is invalid: [\s\S]*$/, ' is invalid:') : error;
    const lines = [`the device refused ${request} (HTTP ${status}): ${said}`];
    for (const issue of issues) lines.push(`  ${issue.path || '/'}: ${issue.message}`);
    if (status === 401) lines.push(`  hint: wrong or missing key: ${KEY_HINT}`);
    return new LocalApiAnswerError(request, status, issues, lines.join('\n'));
  }
}

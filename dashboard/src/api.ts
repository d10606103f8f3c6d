// The dashboard's one door to the API: calls made from the routes' declarations (protocol/http/), so a path, a
// method, a body's and an answer's type are never written twice. The page is on the API's own origin and
// authenticates with its session cookie; every call that changes something carries the session's CSRF token.
// Answers are not validated again here: they come from this origin's API, whose handlers are typed by the same
// schemas, and leaving the validator out keeps the bundle small.
import type { Static, TSchema } from '@sinclair/typebox';
import { CSRF_HEADER } from '../../protocol/http/auth.js';
import { fillPath, type PathParams, type RouteSpec } from '../../protocol/http/route.js';

type SuccessSchema<R extends RouteSpec> = R['responses'] extends { 200: { schema: infer S extends TSchema } }
  ? S
  : R['responses'] extends { 201: { schema: infer S extends TSchema } }
    ? S
    : undefined;

/** What the route answers on success. */
export type ResultOf<R extends RouteSpec> = SuccessSchema<R> extends TSchema ? Static<SuccessSchema<R>> : undefined;
type BodyOf<R extends RouteSpec> = R extends { body: infer S extends TSchema } ? Static<S> : undefined;
type QueryOf<R extends RouteSpec> = R extends { query: infer S extends TSchema } ? Partial<Static<S>> : undefined;

/** A call's path parameters, body and query, each typed by the route's declaration. */
export interface CallArgs<R extends RouteSpec> {
  params?: PathParams<R['path']>;
  body?: BodyOf<R>;
  query?: QueryOf<R>;
}

/** An answer other than success: its status and the API's own explanation (problem+json detail). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly kind: string,
    detail: string,
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

let csrfToken: string | null = null;
let onUnauthorized: () => void = () => undefined;

/** The session's CSRF token (from the login or GET /v1/auth/session); null: logged out. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when an answer says the session is gone (expired, logged out elsewhere): the app shows the login. */
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

let onChanged: () => void = () => undefined;

/** Called after each change the user made through the API succeeds: pages showing what it changed look again. */
export function whenChanged(handler: () => void): void {
  onChanged = handler;
}

/** The URL of a route with its parameters and query, for links and event streams. */
export function urlOf<R extends RouteSpec>(route: R, params: Record<string, string>, query?: object): string {
  const path = fillPath(route.path, params);
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (Array.isArray(value)) for (const item of value) search.append(key, String(item));
    else if (value !== undefined && value !== null) search.set(key, String(value));
  }
  const text = search.toString();
  return text === '' ? path : `${path}?${text}`;
}

const SAFE = new Set(['GET', 'HEAD']);

export async function call<R extends RouteSpec>(route: R, args: CallArgs<R> = {}): Promise<ResultOf<R>> {
  const url = urlOf(route, (args.params ?? {}) as Record<string, string>, args.query);
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (!SAFE.has(route.method) && csrfToken !== null) headers[CSRF_HEADER] = csrfToken;
  let body: string | undefined;
  if (route.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(args.body ?? {});
  }
  const response = await fetch(url, { method: route.method, headers, body, credentials: 'same-origin' });
  if (!response.ok) {
    let kind = 'unknown';
    let detail = `${route.method} ${url} answered ${response.status}`;
    try {
      const problem = (await response.json()) as { type?: unknown; detail?: unknown };
      if (typeof problem.detail === 'string') detail = problem.detail;
      if (typeof problem.type === 'string') kind = problem.type.split('/').at(-1) ?? kind;
    } catch {
      // Not a problem document (a proxy's page): the status says enough.
    }
    if (response.status === 401 && !route.path.startsWith('/v1/auth/')) onUnauthorized();
    throw new ApiError(response.status, kind, detail);
  }
  // Not every change is a fleet event (a pin, a tag, a user): the pages learn of the user's own from here.
  if (!SAFE.has(route.method)) onChanged();
  if (response.status === 204) return undefined as ResultOf<R>;
  return (await response.json()) as ResultOf<R>;
}

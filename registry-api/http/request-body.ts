// Request bodies and queries: JSON only, read by the route that wants one (after its authentication: nobody
// unauthenticated gets megabytes parsed; the routes anyone may call read a few kB at most) and validated against the schema its declaration (protocol/http/)
// documents. Malformed, oversized or non-JSON bodies are 4xx problems that say so, never a 500.
import type { Context, Middleware } from 'koa';
import bodyParser from 'koa-bodyparser';
import type { Static, TSchema } from '@sinclair/typebox';
import { parse, ValidationError } from '../../protocol/validate.js';
import { badRequest, ProblemError } from './problem.js';
import { routeLabel, type RouteSpec } from '../../protocol/http/route.js';

/** A release carries its compose file (at most 1 MB of text) inside JSON, where escaping can grow it. */
const JSON_LIMIT = '4mb';
/**
 * What a route anyone may call (access 'public': a device's auth request, its key rotation) reads, before anything
 * says who is asking. The largest valid auth request is about 2 kB: every field of protocol/device-auth.ts at its
 * longest with every character \u-escaped, and a provisioning key as the API makes them (43 characters); 8 kB
 * leaves room for whitespace and fields added later.
 */
export const PUBLIC_JSON_LIMIT = '8kb';
/**
 * How long reading a JSON body may take. The server has no overall request timeout (http/server-limits.ts: it
 * would cut large bundle uploads), so a body trickled in byte by byte would otherwise hold its connection as long as
 * each byte comes before the idle timeout. 8 kB need 7 s at 9.6 kbit/s; 4 MB of a release, 5 minutes at 110 kbit/s.
 */
export const PUBLIC_BODY_TIMEOUT_MS = 30_000;
export const BODY_TIMEOUT_MS = 5 * 60_000;

/**
 * close: past the limit, the rest of the body is not taken in (Node would read and drop it to keep the connection):
 * the connection closes after the answer. For the routes anyone may call, whose clients may not be clients at all.
 */
function jsonParser(limit: string, close: boolean): Middleware {
  return bodyParser({
    enableTypes: ['json'],
    jsonLimit: limit,
    strict: true,
    onerror: (err, ctx) => {
      const status = (err as { status?: unknown }).status;
      if (status === 413) {
        throw new ProblemError(
          413,
          'too-large',
          `the body of ${ctx.method} ${ctx.path} is larger than ${limit}`,
          undefined,
          close ? { Connection: 'close' } : {},
        );
      }
      if (status === 415) {
        throw new ProblemError(415, 'unsupported-media-type', `${ctx.method} ${ctx.path}: ${err.message}`);
      }
      throw badRequest('malformed-json', `the body of ${ctx.method} ${ctx.path} is not valid JSON: ${err.message}`);
    },
  });
}

const parseJson = jsonParser(JSON_LIMIT, false);
const parsePublicJson = jsonParser(PUBLIC_JSON_LIMIT, true);

/** Reads the body with the route's limits: the parser's size limit, and a deadline for the whole of it. */
async function parseWithin(ctx: Context, route: RouteSpec): Promise<void> {
  const open = route.access === 'public';
  const timeoutMs = open ? PUBLIC_BODY_TIMEOUT_MS : BODY_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ProblemError(
            408,
            'request-timeout',
            `the body of ${ctx.method} ${ctx.path} did not arrive within ${timeoutMs / 1000} s`,
            undefined,
            { Connection: 'close' },
          ),
        ),
      timeoutMs,
    );
  });
  const reading = (open ? parsePublicJson : parseJson)(ctx, async () => {});
  // Once the deadline answered, the reading fails when the connection closes: nobody waits for it any more.
  reading.catch(() => {});
  try {
    await Promise.race([reading, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A route entry that reads a body / a query. */
type WithBody = RouteSpec & { body: TSchema };
type WithQuery = RouteSpec & { query: TSchema };

function matchedLabel(ctx: Context): string {
  return `${ctx.method} ${String((ctx as { _matchedRoute?: unknown })._matchedRoute)}`;
}

/**
 * The declaration must be the one the router matched: a handler reading another route's schema would enforce
 * something the document does not say. That is a programming error, so it is thrown as one (a 500 with its log).
 */
function assertMatched(ctx: Context, route: RouteSpec): void {
  if (matchedLabel(ctx) !== routeLabel(route)) {
    throw new Error(`the handler of ${matchedLabel(ctx)} validates with the declaration of ${routeLabel(route)}`);
  }
}

/** The body narrowed to the route's schema, or a 400 problem listing every issue with its JSON pointer. */
export async function readBody<R extends WithBody>(ctx: Context, route: R): Promise<Static<R['body']>> {
  assertMatched(ctx, route);
  // is() answers false only when there is a body and it is not JSON (null when there is none).
  if (ctx.request.is('json', '+json') === false) {
    throw new ProblemError(
      415,
      'unsupported-media-type',
      `the body of ${ctx.method} ${ctx.path} must be application/json, not ${ctx.request.type || 'untyped'}`,
    );
  }
  await parseWithin(ctx, route);
  try {
    return parse(route.body, ctx.request.body ?? {}, route.bodyName ?? `the body of ${ctx.method} ${ctx.path}`);
  } catch (err) {
    if (err instanceof ValidationError) throw badRequest('invalid-body', err.message, err.issues);
    throw err;
  }
}

/** The query narrowed to the route's schema (values are strings, repeated ones arrays), or a 400 naming them. */
export function readQuery<R extends WithQuery>(ctx: Context, route: R): Static<R['query']> {
  assertMatched(ctx, route);
  try {
    return parse(route.query, { ...ctx.query }, `the query of ${ctx.method} ${ctx.path}`);
  } catch (err) {
    if (err instanceof ValidationError)
      throw badRequest(
        'invalid-query',
        err.message,
        err.issues.map((i) => ({ ...i, path: `?${i.path.replace(/^\//, '')}` })),
      );
    throw err;
  }
}

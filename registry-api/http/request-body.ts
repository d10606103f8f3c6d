// Request bodies and queries: JSON only, read by the route that wants one (after its authentication: nobody
// unauthenticated gets megabytes parsed) and validated against the schema its declaration (protocol/http/)
// documents. Malformed, oversized or non-JSON bodies are 4xx problems that say so, never a 500.
import type { Context, Middleware } from 'koa';
import bodyParser from 'koa-bodyparser';
import type { Static, TSchema } from '@sinclair/typebox';
import { parse, ValidationError } from '../../protocol/validate.js';
import { badRequest, ProblemError } from './problem.js';
import { routeLabel, type RouteSpec } from '../../protocol/http/route.js';

/** A release carries its compose file (at most 1 MB of text) inside JSON, where escaping can grow it. */
const JSON_LIMIT = '4mb';

const parseJson: Middleware = bodyParser({
  enableTypes: ['json'],
  jsonLimit: JSON_LIMIT,
  strict: true,
  onerror: (err, ctx) => {
    const status = (err as { status?: unknown }).status;
    if (status === 413) {
      throw new ProblemError(413, 'too-large', `the body of ${ctx.method} ${ctx.path} is larger than ${JSON_LIMIT}`);
    }
    if (status === 415) {
      throw new ProblemError(415, 'unsupported-media-type', `${ctx.method} ${ctx.path}: ${err.message}`);
    }
    throw badRequest('malformed-json', `the body of ${ctx.method} ${ctx.path} is not valid JSON: ${err.message}`);
  },
});

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
  await parseJson(ctx, async () => {});
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

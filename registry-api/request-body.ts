// Request bodies: JSON only, read by the route that wants one (after its authentication: nobody unauthenticated
// gets megabytes parsed) and validated against the protocol schema it must match. Malformed, oversized or
// non-JSON bodies are 4xx problems that say so, never a 500.
import type { Context, Middleware } from 'koa';
import bodyParser from 'koa-bodyparser';
import type { Static, TSchema } from '@sinclair/typebox';
import { parse, ValidationError } from '../protocol/validate.js';
import { badRequest, ProblemError } from './problem.js';

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

/** The body narrowed to `schema`, or a 400 problem listing every issue with its JSON pointer. */
export async function readBody<T extends TSchema>(ctx: Context, schema: T, what: string): Promise<Static<T>> {
  // is() answers false only when there is a body and it is not JSON (null when there is none).
  if (ctx.request.is('json', '+json') === false) {
    throw new ProblemError(415, 'unsupported-media-type',
      `the body of ${ctx.method} ${ctx.path} must be application/json, not ${ctx.request.type || 'untyped'}`);
  }
  await parseJson(ctx, async () => {});
  try {
    return parse(schema, ctx.request.body ?? {}, what);
  } catch (err) {
    if (err instanceof ValidationError) throw badRequest('invalid-body', err.message, err.issues);
    throw err;
  }
}

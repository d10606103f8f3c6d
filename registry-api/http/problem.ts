// Every error answer of the API is an RFC 9457 problem (protocol ProblemSchema): a status, a short title, a detail
// that says what went wrong and on what, and for bad input the places and reasons. Nothing else leaves as an error.
import type { Middleware } from 'koa';
import type { Problem } from '../../protocol/api.js';
import type { Issue } from '../../protocol/validate.js';
import type { Logger } from '../../lib/logger.js';
import { ConflictError } from '../store/index.js';
import { SqlError } from '../store/sql/errors.js';

const TYPE_PREFIX = 'urn:skiff:problem:';

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

export class ProblemError extends Error {
  constructor(
    readonly status: number,
    /** Stable, machine-readable kind: clients branch on it, never on the detail text. */
    readonly kind: string,
    readonly detail: string,
    readonly errors?: Issue[],
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(detail);
    this.name = 'ProblemError';
  }

  toProblem(): Problem {
    return {
      type: `${TYPE_PREFIX}${this.kind}`,
      title: TITLES[this.status] ?? 'Error',
      status: this.status,
      detail: this.detail,
      ...(this.errors ? { errors: this.errors } : {}),
    };
  }
}

export const badRequest = (kind: string, detail: string, errors?: Issue[]): ProblemError =>
  new ProblemError(400, kind, detail, errors);
export const unauthorized = (detail: string): ProblemError =>
  new ProblemError(401, 'unauthorized', detail, undefined, { 'WWW-Authenticate': 'Bearer realm="skiff"' });
export const forbidden = (detail: string): ProblemError => new ProblemError(403, 'forbidden', detail);
export const notFound = (detail: string): ProblemError => new ProblemError(404, 'not-found', detail);
export const conflict = (detail: string): ProblemError => new ProblemError(409, 'conflict', detail);

/** Errors of the kind http-errors makes (body parser, router): a status meant for the client. */
function clientStatusOf(err: unknown): number | null {
  if (err === null || typeof err !== 'object') return null;
  const { status, expose } = err as { status?: unknown; expose?: unknown };
  return typeof status === 'number' && status >= 400 && status < 500 && expose !== false ? status : null;
}

/**
 * Outermost error boundary: thrown ProblemErrors become their problem, store conflicts are 409s, client errors from
 * middleware keep their status, anything else is a 500 that is logged with its stack and shown without internals.
 * Answers the router left empty (no route: 404; wrong method: 405) get a problem body too.
 */
export function problems(logger: Logger): Middleware {
  return async (ctx, next) => {
    let problem: ProblemError | null = null;
    try {
      await next();
      if (ctx.body == null && ctx.status === 404) {
        problem = notFound(`no route for ${ctx.method} ${ctx.path}`);
      } else if (ctx.body == null && (ctx.status === 405 || ctx.status === 501)) {
        const allow = ctx.response.get('Allow');
        problem = new ProblemError(
          ctx.status,
          'method-not-allowed',
          `${ctx.method} is not allowed on ${ctx.path}${allow ? ` (allowed: ${allow})` : ''}`,
          undefined,
          allow ? { Allow: allow } : {},
        );
      }
    } catch (err) {
      const status = clientStatusOf(err);
      if (err instanceof ProblemError) {
        problem = err;
      } else if (err instanceof ConflictError) {
        problem = conflict(err.message);
      } else if (err instanceof SqlError && err.kind === 'invalid-text') {
        // A NUL in a name or id: no database row can hold one, so it is bad input, not a failure of the API.
        problem = badRequest('invalid-text', `${ctx.method} ${ctx.path}: a value contains the NUL character`);
      } else if (status !== null) {
        problem = new ProblemError(
          status,
          'bad-request',
          `${ctx.method} ${ctx.path}: ${err instanceof Error ? err.message : String(err)}`,
        );
      } else {
        logger.error({ err, method: ctx.method, path: ctx.path }, 'request failed');
        problem = new ProblemError(
          500,
          'internal',
          `${ctx.method} ${ctx.path} failed inside the API; its log has the cause`,
        );
      }
    }
    if (problem) {
      ctx.status = problem.status;
      ctx.set(problem.headers);
      ctx.body = problem.toProblem();
      ctx.type = 'application/problem+json';
    }
  };
}

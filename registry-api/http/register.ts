// Handlers are registered against their route's declaration (protocol/http/), never with a path of their own: the
// router takes the declaration's method and path, the declared access is enforced before the handler runs, and the
// handler reads its body and query through the declaration's schemas. So what the OpenAPI document says (it is made
// from the same declarations) is what is served and enforced.
import type Router from '@koa/router';
import type { RouterContext, RouterMiddleware } from '@koa/router';
import type { Static, TSchema } from '@sinclair/typebox';
import type { Context } from 'koa';
import type { PathParams, RouteSpec } from '../../protocol/http/route.js';
import type { RouteDeps } from '../deps.js';
import { requireDevice, type AccessControl, type ApiState } from './auth.js';
import { readBody, readQuery } from './request-body.js';

export type RouteContext = RouterContext<ApiState>;

type BodyOf<R extends RouteSpec> = R extends { body: infer S extends TSchema } ? Static<S> : never;
type QueryOf<R extends RouteSpec> = R extends { query: infer S extends TSchema } ? Static<S> : never;

/** What a handler reads of its request, typed by its declaration. */
export interface RouteRequest<R extends RouteSpec> {
  /** The path's parameters by name: the router matched each of them. */
  readonly params: PathParams<R['path']>;
  /**
   * The JSON body, valid for the declared schema (else a 400, 413 or 415 problem). Read only when asked, so a
   * handler answers 404 for what the path names before it looks at the body, as it always has.
   */
  body(): Promise<BodyOf<R>>;
  /** The query, valid for the declared schema (else a 400 problem naming the parameter). */
  query(): QueryOf<R>;
}

export type RouteHandler<R extends RouteSpec> = (ctx: RouteContext, request: RouteRequest<R>) => Promise<void> | void;

export interface RegisterOptions {
  /**
   * Another way in, asked before the declared access: when it answers true the request goes on without it (the
   * Prometheus scraper's own secret on /metrics, so no user's API token sits in a scrape config).
   */
  alsoAllow?: (ctx: Context) => boolean;
}

export type Register = <R extends RouteSpec>(route: R, handler: RouteHandler<R>, options?: RegisterOptions) => void;

function requestOf<R extends RouteSpec>(ctx: RouteContext, route: R): RouteRequest<R> {
  return {
    params: ctx.params as PathParams<R['path']>,
    body: async () => {
      const schema = route.body;
      if (schema === undefined) throw new Error(`${route.method} ${route.path} reads a body it does not declare`);
      return (await readBody(ctx, { ...route, body: schema })) as BodyOf<R>;
    },
    query: () => {
      const schema = route.query;
      if (schema === undefined) throw new Error(`${route.method} ${route.path} reads a query it does not declare`);
      return readQuery(ctx, { ...route, query: schema }) as QueryOf<R>;
    },
  };
}

/** The function route modules register their handlers with, on `router`. */
export function registrar(
  router: Router<ApiState>,
  deps: Pick<RouteDeps, 'store' | 'now'>,
  access: AccessControl,
): Register {
  const device = requireDevice(deps.store.devices, deps.now);
  const guardOf = (route: RouteSpec): RouterMiddleware<ApiState> | null => {
    const declared = route.access;
    if (declared === 'public') return null;
    if (declared === 'device') return device;
    // The registry's token service checks Basic credentials itself: it answers with the Basic challenge Docker
    // needs, and only once it knows the token is asked for its own registry.
    if (declared === 'registry-credentials') return null;
    return access.allow(declared.action);
  };
  return (route, handler, options = {}) => {
    const guard = guardOf(route);
    const { alsoAllow } = options;
    const middleware: RouterMiddleware<ApiState>[] = [];
    if (guard !== null) {
      middleware.push(
        alsoAllow === undefined ? guard : async (ctx, next) => (alsoAllow(ctx) ? next() : guard(ctx, next)),
      );
    }
    middleware.push(async (ctx) => {
      await handler(ctx, requestOf(ctx, route));
    });
    router.register(route.path, [route.method], middleware);
  };
}

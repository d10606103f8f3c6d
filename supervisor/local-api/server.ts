// The device-local API over HTTP (protocol/local-api.ts): Koa, loopback by default, the key on every route but
// ping and healthy (a watchdog or a container HEALTHCHECK must not need a secret). Nothing here needs the network:
// a technician on site gets answers while the API is unreachable. listen.ts loads this on the first request.
import Koa from 'koa';
import Router, { type RouterMiddleware } from '@koa/router';
import { Type } from '@sinclair/typebox';
import {
  localPaths,
  LocalTargetRequestSchema,
  ServiceHealthRequestSchema,
  type ServiceActionAnswer,
} from '../../protocol/local-api.js';
import { parse, ValidationError } from '../../protocol/validate.js';
import { messageOf } from '../../lib/errors.js';
import { sameKey } from './key.js';
import { LocalApiError, type LocalApiOptions } from './listen.js';

const TailSchema = Type.Object({ tail: Type.Optional(Type.String({ pattern: '^[0-9]{1,5}$' })) });

function bearerOf(ctx: Koa.Context): string | null {
  return /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('Authorization'))?.[1] ?? null;
}

export function localApiApp({ control, key, log }: Pick<LocalApiOptions, 'control' | 'key' | 'log'>): Koa {
  const app = new Koa();
  const router = new Router();
  const authed: RouterMiddleware = async (ctx, next) => {
    const given = bearerOf(ctx);
    if (given === null || !sameKey(given, key)) {
      throw new LocalApiError(
        401,
        `${ctx.method} ${ctx.path} needs the local API key (data dir's local-api.key) as 'Authorization: Bearer <key>'`,
      );
    }
    await next();
  };
  // The body parser (co-body, iconv-lite, qs: some MB resident) only for the one route with a body, and only once
  // it is used: a device mostly never enters local mode.
  let parser: Koa.Middleware | undefined;
  const json: RouterMiddleware = async (ctx, next) => {
    parser ??= (await import('koa-bodyparser')).default({ enableTypes: ['json'], jsonLimit: '4mb', strict: true });
    await parser(ctx, next);
  };

  router.get(localPaths.ping, (ctx) => {
    ctx.type = 'text/plain';
    ctx.body = 'OK';
  });
  router.get(localPaths.healthy, async (ctx) => {
    const health = await control.health();
    ctx.status = health.healthy ? 200 : 503;
    ctx.body = health;
  });
  router.get(localPaths.state, authed, async (ctx) => {
    ctx.body = await control.state();
  });
  for (const action of ['restart', 'stop', 'start'] as const) {
    router.post(`/v1/services/:service/${action}`, authed, async (ctx) => {
      const service = ctx.params.service ?? '';
      const answer: ServiceActionAnswer = { service, containerId: await control.serviceAction(service, action) };
      log.info({ service, action }, 'local API: service action');
      ctx.body = answer;
    });
  }
  // A health report is a few dozen bytes; a service sending more is refused before anything is parsed.
  let smallParser: Koa.Middleware | undefined;
  const smallJson: RouterMiddleware = async (ctx, next) => {
    smallParser ??= (await import('koa-bodyparser')).default({ enableTypes: ['json'], jsonLimit: '4kb', strict: true });
    await smallParser(ctx, next);
  };
  router.put('/v1/services/:service/health', authed, smallJson, (ctx) => {
    const service = ctx.params.service ?? '';
    const request = parse(
      ServiceHealthRequestSchema,
      ctx.request.body ?? {},
      `the health of service ${JSON.stringify(service.slice(0, 64))}`,
    );
    if (!control.reportHealth(service, request)) {
      throw new LocalApiError(404, `the device runs no service ${JSON.stringify(service.slice(0, 64))}`);
    }
    ctx.status = 204;
  });
  router.get('/v1/services/:service/logs', authed, async (ctx) => {
    const { tail } = parse(TailSchema, { ...ctx.query }, `the query of ${ctx.path}`);
    ctx.body = await control.serviceLogs(ctx.params.service ?? '', tail === undefined ? 200 : Number(tail));
  });
  router.post(localPaths.reboot, authed, async (ctx) => {
    const command = await control.reboot();
    ctx.status = 202;
    ctx.body = { rebooting: true, command };
  });
  router.get(localPaths.localTarget, authed, (ctx) => {
    const local = control.localTarget();
    if (local === null) throw new LocalApiError(404, 'the device is not in local mode');
    ctx.body = local;
  });
  router.put(localPaths.localTarget, authed, json, async (ctx) => {
    const request = parse(LocalTargetRequestSchema, ctx.request.body ?? {}, 'the local target');
    ctx.body = await control.enterLocalMode(request);
    ctx.status = 202;
  });
  router.delete(localPaths.localTarget, authed, async (ctx) => {
    if (!(await control.leaveLocalMode())) throw new LocalApiError(404, 'the device is not in local mode');
    ctx.status = 204;
  });

  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const status =
        err instanceof LocalApiError
          ? err.status
          : err instanceof ValidationError
            ? 400
            : typeof (err as { status?: unknown }).status === 'number'
              ? (err as { status: number }).status
              : 500;
      if (status >= 500) log.error({ err: messageOf(err), path: ctx.path }, 'local API request failed');
      ctx.status = status;
      ctx.body = { error: messageOf(err), ...(err instanceof ValidationError ? { issues: err.issues } : {}) };
    }
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

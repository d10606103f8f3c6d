// One structured line per request. Device polls and reports arrive every minute from every device: they log at
// debug so the info log keeps what people did.
import type { Middleware } from 'koa';
import type { Logger } from '../lib/logger.js';

export function requestLog(logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const entry = { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round((performance.now() - started) * 10) / 10 };
      if (ctx.status >= 500) logger.error(entry, 'request');
      else if (ctx.path.startsWith('/v1/device/') && ctx.status < 400) logger.debug(entry, 'request');
      else logger.info(entry, 'request');
    }
  };
}

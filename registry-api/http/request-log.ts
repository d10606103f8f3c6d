// One structured line per request. Device polls and reports arrive every minute from every device: they log at
// debug so the info log keeps what people did.
import type { Middleware } from 'koa';
import type { Logger } from '../../lib/logger.js';

export function requestLog(logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const level =
        ctx.status >= 500 ? 'error' : ctx.status < 400 && ctx.path.startsWith('/v1/device/') ? 'debug' : 'info';
      // The entry is built only for a line that is written: a poll at info level costs a comparison.
      if (logger.isLevelEnabled(level)) {
        logger[level](
          {
            method: ctx.method,
            path: ctx.path,
            status: ctx.status,
            ms: Math.round((performance.now() - started) * 10) / 10,
          },
          'request',
        );
      }
    }
  };
}

// GET /metrics for Prometheus. A scraper gets its own secret (SKIFF_METRICS_TOKEN) so no user's API token has to
// sit in a Prometheus config; without it, an admin's API token works too.
import type Router from '@koa/router';
import type { ApiState, AccessControl } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { sameSecret } from '../../keys/secrets.js';

export function metricsRoutes(router: Router<ApiState>, deps: RouteDeps, access: AccessControl): void {
  const asUser = access.allow('metrics.read');
  router.get(
    '/metrics',
    async (ctx, next) => {
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('Authorization'))?.[1];
      if (deps.metricsToken !== null && bearer !== undefined && sameSecret(bearer, deps.metricsToken)) return next();
      return asUser(ctx, next);
    },
    async (ctx) => {
      const { contentType, body } = await deps.metrics.text();
      ctx.type = contentType;
      ctx.body = body;
    },
  );
}

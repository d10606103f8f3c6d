// GET /metrics for Prometheus. A scraper gets its own secret (SKIFF_METRICS_TOKEN) so no user's API token has to
// sit in a Prometheus config; without it, an admin's API token works too.
import { ROUTES } from '../../../protocol/http/routes.js';
import type { RouteDeps } from '../../deps.js';
import { sameSecret } from '../../keys/secrets.js';
import type { Register } from '../register.js';

export function metricsRoutes(on: Register, deps: RouteDeps): void {
  const { metricsToken } = deps;
  const scraper = (authorization: string): boolean => {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
    return metricsToken !== null && bearer !== undefined && sameSecret(bearer, metricsToken);
  };
  on(
    ROUTES.metrics,
    async (ctx) => {
      const { contentType, body } = await deps.metrics.text();
      ctx.type = contentType;
      ctx.body = body;
    },
    { alsoAllow: (ctx) => scraper(ctx.get('Authorization')) },
  );
}

// The registry-api HTTP application: middleware order is the contract here. Logging sees the final status,
// the problem boundary turns every failure below it into problem+json, the router answers 405 for wrong methods.
import Koa from 'koa';
import Router from '@koa/router';
import type { ApiState } from './auth.js';
import type { AppDeps, RouteDeps } from './deps.js';
import { problems } from './problem.js';
import { requestLog } from './request-log.js';
import { deviceApiRoutes } from './routes/device-api.js';
import { deviceRoutes } from './routes/devices.js';
import { fleetRoutes } from './routes/fleets.js';
import { infoRoutes } from './routes/info.js';
import { releaseRoutes } from './routes/releases.js';

export type { AppDeps } from './deps.js';

export function createApp(appDeps: AppDeps): Koa<ApiState> {
  const deps: RouteDeps = { now: () => new Date(), ...appDeps };
  const router = new Router<ApiState>();
  infoRoutes(router, deps);
  fleetRoutes(router, deps);
  releaseRoutes(router, deps);
  deviceRoutes(router, deps);
  deviceApiRoutes(router, deps);

  const app = new Koa<ApiState>();
  // Koa's own error printer would bypass the structured log; the problem boundary handles request errors, this
  // sees what happens outside it (e.g. a client hanging up mid-answer).
  app.on('error', (err: unknown) => deps.logger.warn({ err }, 'http error outside a request handler'));
  app.use(requestLog(deps.logger));
  app.use(problems(deps.logger));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

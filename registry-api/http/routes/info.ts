// GET /v1/info: who this is and where releases are pushed; open to all, so a CLI can check its target.
import type Router from '@koa/router';
import { paths, type Info } from '../../../protocol/api.js';
import type { ApiState } from '../auth.js';
import type { RouteDeps } from '../../deps.js';

export function infoRoutes(router: Router<ApiState>, deps: RouteDeps): void {
  router.get(paths.info, (ctx) => {
    ctx.body = {
      name: 'skiff',
      version: deps.version,
      registry: deps.registry,
      signingKey: deps.signingKey.publicKey,
    } satisfies Info;
  });
}

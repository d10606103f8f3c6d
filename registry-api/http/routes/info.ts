// GET /v1/info: who this is and where releases are pushed; open to all, so a CLI can check its target.
import type { Info } from '../../../protocol/api.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import type { RouteDeps } from '../../deps.js';
import type { Register } from '../register.js';

export function infoRoutes(on: Register, deps: RouteDeps): void {
  on(ROUTES.info, (ctx) => {
    ctx.body = {
      name: 'skiff',
      version: deps.version,
      registry: deps.registry,
      signingKey: deps.signingKey.publicKey,
    } satisfies Info;
  });
}

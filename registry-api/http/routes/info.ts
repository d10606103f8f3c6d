// GET /v1/info: who this is and where releases are pushed; open to all, so a CLI can check its target.
import type { Info, SigningKeyStatus } from '../../../protocol/api.js';
import { conflict } from '../problem.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import type { RouteDeps } from '../../deps.js';
import type { Register } from '../register.js';

export function infoRoutes(on: Register, deps: RouteDeps): void {
  const keyStatus = (): SigningKeyStatus => ({
    signingKey: deps.signingKey.publicKey,
    nextSigningKey: deps.signingKey.nextPublicKey,
  });
  on(ROUTES.signingKey, (ctx) => {
    ctx.body = keyStatus();
  });
  // Kept targets were signed and issued with the keys as they were: every device gets one issued anew.
  on(ROUTES.rotateSigningKey, async (ctx, request) => {
    await request.body();
    const next = deps.signingKey.rotate();
    deps.targetCache.forget();
    deps.logger.info({ nextSigningKey: next }, 'target signing key rotation started');
    ctx.body = keyStatus();
  });
  on(ROUTES.completeSigningKeyRotation, async (ctx, request) => {
    await request.body();
    if (deps.signingKey.nextPublicKey === null)
      throw conflict('no signing key rotation runs: start one with POST /v1/signing-key/rotate');
    const now = deps.signingKey.complete();
    deps.targetCache.forget();
    deps.logger.info({ signingKey: now }, 'target signing key rotation completed');
    ctx.body = keyStatus();
  });

  on(ROUTES.info, (ctx) => {
    ctx.body = {
      name: 'skiff',
      version: deps.version,
      registry: deps.registry,
      signingKey: deps.signingKey.publicKey,
    } satisfies Info;
  });
}

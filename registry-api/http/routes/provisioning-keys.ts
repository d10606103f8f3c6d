// A fleet's provisioning keys: operators list, create (one per installer batch, optionally expiring) and revoke
// them. A key's secret is in the answer that created it only; revoking one stops it admitting new devices and
// leaves the devices it admitted alone (they authenticate with their own keys).
import type { NewProvisioningKey, ProvisioningKey } from '../../../protocol/provisioning-keys.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import { stampOf } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { notFound } from '../problem.js';
import type { Register } from '../register.js';
import { hashSecret, newSecret } from '../../keys/secrets.js';
import type { ProvisioningKeyRecord } from '../../store/index.js';
import { fleetOr404 } from './fleets.js';

const DAY_MS = 24 * 3600 * 1000;

export function provisioningKeyView(key: ProvisioningKeyRecord): ProvisioningKey {
  return {
    id: key.id,
    fleet: key.fleet,
    label: key.label,
    createdBy: key.createdBy,
    createdAt: key.createdAt,
    expiresAt: key.expiresAt,
    revokedAt: key.revokedAt,
  };
}

export function provisioningKeyRoutes(on: Register, deps: RouteDeps): void {
  const { store, logger } = deps;

  on(ROUTES.listProvisioningKeys, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    ctx.body = (await store.provisioningKeys.list(fleet.name)).map(provisioningKeyView);
  });

  on(ROUTES.createProvisioningKey, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const body = await request.body();
    const now = deps.now();
    const secret = newSecret();
    const key = await store.provisioningKeys.create(
      {
        fleet: fleet.name,
        hash: hashSecret(secret),
        label: body.label ?? null,
        createdAt: now.toISOString(),
        expiresAt:
          body.expiresInDays === undefined ? null : new Date(now.getTime() + body.expiresInDays * DAY_MS).toISOString(),
      },
      stampOf(ctx, deps.now),
    );
    if (!key) throw notFound(`fleet '${fleet.name}' does not exist`);
    logger.info({ fleet: fleet.name, key: key.id, expiresAt: key.expiresAt }, 'provisioning key created');
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { ...provisioningKeyView(key), key: secret } satisfies NewProvisioningKey;
  });

  on(ROUTES.revokeProvisioningKey, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const id = request.params.id;
    const key = await store.provisioningKeys.revoke(fleet.name, id, stampOf(ctx, deps.now));
    if (!key) throw notFound(`fleet '${fleet.name}' has no provisioning key with id '${id}'`);
    logger.info({ fleet: fleet.name, key: key.id }, 'provisioning key revoked');
    ctx.body = provisioningKeyView(key);
  });
}

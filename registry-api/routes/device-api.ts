// What devices call: register with their fleet's provisioning key, poll their target state (signed, ETag, 304),
// report their state. A device key opens only its own device's routes.
import type Router from '@koa/router';
import { RegisterRequestSchema, type RegisterResponse } from '../../protocol/api.js';
import { SIGNATURE_HEADER } from '../../protocol/signature.js';
import { StateReportSchema } from '../../protocol/state-report.js';
import { authenticatedDevice, requireDevice, type ApiState } from '../auth.js';
import type { RouteDeps } from '../deps.js';
import { etagOf, isFresh } from '../etag.js';
import { notFound, unauthorized } from '../problem.js';
import { readBody } from '../request-body.js';
import { hashSecret, newSecret, sameSecret } from '../secrets.js';
import { targetReleaseOf, targetStateOf } from '../target-state.js';
import { fleetOr404 } from './fleets.js';

export function deviceApiRoutes(router: Router<ApiState>, deps: RouteDeps): void {
  const { store, logger } = deps;
  const device = requireDevice(store.devices);

  router.post('/v1/device/register', async (ctx) => {
    const body = await readBody(ctx, RegisterRequestSchema, 'the registration');
    const fleet = await store.fleets.get(body.fleet);
    if (!fleet) throw notFound(`fleet '${body.fleet}' does not exist`);
    if (!sameSecret(body.provisioningKey, fleet.provisioningKey)) {
      throw unauthorized(`the provisioning key is not the one of fleet '${fleet.name}'`);
    }
    // Registering again (a reflashed card, a lost key) gives a new key; the old one stops working at once.
    const deviceKey = newSecret();
    const { device: registered, created } = await store.devices.register({
      uuid: body.uuid,
      ...(body.name === undefined ? {} : { name: body.name }),
      fleet: fleet.name,
      deviceType: body.deviceType,
      keyHash: hashSecret(deviceKey),
      at: deps.now().toISOString(),
    });
    logger.info({ uuid: registered.uuid, fleet: fleet.name, created }, created ? 'device registered' : 'device re-registered, key replaced');
    ctx.status = created ? 201 : 200;
    ctx.body = {
      uuid: registered.uuid,
      name: registered.name,
      fleet: fleet.name,
      deviceKey,
      signingKey: deps.signingKey.publicKey,
    } satisfies RegisterResponse;
  });

  router.get('/v1/device/:uuid/target', device, async (ctx) => {
    const me = authenticatedDevice(ctx);
    const fleet = await fleetOr404(store.fleets, me.fleet);
    const target = targetStateOf(me, fleet, await targetReleaseOf(store.releases, fleet, me));
    await store.devices.touch(me.uuid, deps.now().toISOString());
    const etag = etagOf(target);
    ctx.set('ETag', etag);
    // Devices must revalidate every time: a cached target would hide a new release.
    ctx.set('Cache-Control', 'no-cache');
    if (isFresh(ctx.get('If-None-Match') || undefined, etag)) {
      ctx.status = 304;
      return;
    }
    ctx.set(SIGNATURE_HEADER, deps.signingKey.sign(target));
    ctx.body = target;
  });

  router.patch('/v1/device/:uuid/state', device, async (ctx) => {
    const me = authenticatedDevice(ctx);
    const report = await readBody(ctx, StateReportSchema, 'the state report');
    await store.devices.saveReport(me.uuid, report, deps.now().toISOString());
    ctx.status = 204;
  });
}

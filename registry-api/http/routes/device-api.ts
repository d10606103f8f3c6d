// What devices call: authenticate with a request signed by their own key (protocol/device-auth.ts) for a token,
// rotate that key, poll their target state (signed, ETag, 304), report their state. A token opens only its own
// device's routes.
import type { Context } from 'koa';
import {
  DEVICE_SIGNATURE_HEADER,
  NEW_KEY_SIGNATURE_HEADER,
  deviceSignatureProblem,
  type DeviceAuthPending,
  type DeviceAuthResponse,
} from '../../../protocol/device-auth.js';
import { checkProvisioningKey } from '../../devices/admission.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import { authenticatedDevice, authenticatedGeneration } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { badRequest, conflict, forbidden, notFound, ProblemError, unauthorized } from '../problem.js';
import { servePoll } from '../../fleet/poll-fast-path.js';
import { receiveReport } from '../../devices/report-merge.js';
import { announceWrongMeter } from '../../devices/wrong-meter.js';
import { publishRegistered, publishReportEvents } from '../../events/publish.js';
import type { Register } from '../register.js';
import { hashSecret, newSecret } from '../../keys/secrets.js';
import type { DeviceRecord, FleetRecord, NewDeviceToken } from '../../store/index.js';
import { isPlatformName, type PlatformName, platformsOf } from '../../../protocol/device-types.js';
import { fleetOr404, refuseArchived } from './fleets.js';

/** Long enough that a device on a flaky link rarely re-authenticates, short enough that a stolen token fades. */
export const DEVICE_TOKEN_TTL_MS = 7 * 24 * 3600 * 1000;
/**
 * How far a signed timestamp may be from the API's clock. Devices without a real-time clock correct theirs from
 * the Date header of the API's answers; replays within the window are stopped by the timestamp having to grow.
 */
export const TIMESTAMP_WINDOW_MS = 15 * 60 * 1000;

function bearerOf(ctx: Context): string | null {
  return /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('Authorization'))?.[1] ?? null;
}

export function deviceApiRoutes(on: Register, deps: RouteDeps): void {
  const { store, logger } = deps;

  /** Throws the 401 for a timestamp too far from now; returns it normalised. */
  const freshTimestamp = (timestamp: string, who: string): string => {
    const at = Date.parse(timestamp);
    const now = deps.now();
    if (Number.isNaN(at) || Math.abs(now.getTime() - at) > TIMESTAMP_WINDOW_MS) {
      throw new ProblemError(
        401,
        'stale-timestamp',
        `the timestamp ${timestamp} of ${who} is more than ${TIMESTAMP_WINDOW_MS / 60_000} minutes from the API's clock (${now.toISOString()}); sign again with the time of this answer's Date header`,
        undefined,
        { 'WWW-Authenticate': 'Bearer realm="skiff"', Date: now.toUTCString() },
      );
    }
    return new Date(at).toISOString();
  };

  const newToken = (): { secret: string; stored: NewDeviceToken } => {
    const secret = newSecret();
    return {
      secret,
      stored: {
        hash: hashSecret(secret),
        expiresAt: new Date(deps.now().getTime() + DEVICE_TOKEN_TTL_MS).toISOString(),
      },
    };
  };

  const granted = (me: DeviceRecord, token: { secret: string; stored: NewDeviceToken }): DeviceAuthResponse => ({
    token: token.secret,
    expiresAt: token.stored.expiresAt,
    signingKey: deps.signingKey.publicKey,
    uuid: me.uuid,
    name: me.name,
    fleet: me.fleet,
    shortId: me.shortId,
  });

  /**
   * A device whose platform its fleet's device types do not run is refused before anything is stored: it could
   * never run a release built for them. The fleet is the one the device is in already, else the one it asks for.
   */
  const checkPlatform = async (uuid: string, platform: string, asked: FleetRecord | null, who: string) => {
    const [known] = await store.devices.withGenerations([uuid]);
    const fleet = known === undefined ? asked : await store.fleets.get(known.device.fleet);
    if (fleet === null) return;
    const platforms = platformsOf(fleet.deviceTypes);
    if (platforms.includes(platform as PlatformName)) return;
    const shown = JSON.stringify(platform);
    throw new ProblemError(
      409,
      'platform-mismatch',
      `${who}: the device runs ${isPlatformName(platform) ? platform : `${shown}, not a platform Skiff knows`}, but fleet '${fleet.name}' admits device types ${fleet.deviceTypes.join(', ')} (${platforms.join(', ')}); put the device in a fleet of its type, or add its type to the fleet`,
      [{ path: '/platform', message: `${shown} is not among ${platforms.join(', ')}` }],
    );
  };

  on(ROUTES.deviceAuth, async (ctx, request) => {
    const body = await request.body();
    const who = `the auth request of device '${body.uuid}'`;
    const bad = deviceSignatureProblem(body.publicKey, body, ctx.get(DEVICE_SIGNATURE_HEADER) || undefined);
    if (bad !== null) throw unauthorized(`${who} is not signed by the key it presents: ${bad}`);
    const timestamp = freshTimestamp(body.timestamp, who);
    const fleet = body.fleet === undefined ? null : await fleetOr404(store.fleets, body.fleet);
    if (body.provisioningKey !== undefined) {
      if (fleet === null) throw badRequest('invalid-body', `${who} carries a provisioning key but names no fleet`);
      await checkProvisioningKey(
        store,
        { fleet: fleet.name, uuid: body.uuid, publicKey: body.publicKey, secret: body.provisioningKey },
        deps.now().toISOString(),
      );
    }
    if (body.platform !== undefined) await checkPlatform(body.uuid, body.platform, fleet, who);
    if (fleet !== null && fleet.archivedAt !== null && (await store.devices.withGenerations([body.uuid])).length === 0)
      refuseArchived(fleet, 'new devices');
    const legacyKey = bearerOf(ctx);
    const token = newToken();
    const outcome = await store.devices.authenticate({
      uuid: body.uuid,
      publicKey: body.publicKey,
      deviceType: body.deviceType,
      ...(body.platform === undefined ? {} : { platform: body.platform }),
      ...(body.name === undefined ? {} : { name: body.name }),
      ...(fleet === null ? {} : { fleet: fleet.name }),
      provisioned: body.provisioningKey !== undefined,
      legacyKeyHash: legacyKey === null ? null : hashSecret(legacyKey),
      timestamp,
      token: token.stored,
      at: deps.now().toISOString(),
    });
    ctx.set('Cache-Control', 'no-store');
    switch (outcome.kind) {
      case 'accepted':
        if (outcome.how !== 'known') {
          logger.info({ uuid: outcome.device.uuid, fleet: outcome.device.fleet, how: outcome.how }, 'device admitted');
          publishRegistered(deps.events, outcome.device, outcome.how);
        }
        ctx.body = granted(outcome.device, token);
        return;
      case 'pending':
        if (outcome.created)
          logger.info({ uuid: outcome.device.uuid, fleet: outcome.device.fleet }, 'device asks to join: pending');
        ctx.status = 202;
        ctx.body = {
          status: 'pending',
          uuid: outcome.device.uuid,
          shortId: outcome.device.shortId,
          detail: `device '${outcome.device.uuid}' (${outcome.device.shortId}) waits for an operator to accept it into fleet '${outcome.device.fleet}'`,
        } satisfies DeviceAuthPending;
        return;
      case 'rejected':
        throw forbidden(
          `device '${outcome.device.uuid}' was ${outcome.device.revokedAt === null ? 'rejected' : `revoked at ${outcome.device.revokedAt}`}; an operator must accept it again`,
        );
      case 'conflict':
        logger.warn({ uuid: body.uuid, reason: outcome.reason }, 'device auth refused: identity conflict');
        throw conflict(outcome.reason);
      case 'invalid-uuid':
        throw badRequest('invalid-body', `${who}: ${outcome.reason}`, [{ path: '/uuid', message: outcome.reason }]);
      case 'replayed':
        throw new ProblemError(
          401,
          'replayed',
          `${who} is signed at ${timestamp}, not later than its last one (${outcome.last}): a replay, or its clock went back`,
          undefined,
          { 'WWW-Authenticate': 'Bearer realm="skiff"' },
        );
      case 'no-fleet':
        throw badRequest(
          'invalid-body',
          `${who}: device '${body.uuid}' is not known and not pre-authorized, so it must name the fleet it asks to join`,
        );
    }
  });

  on(ROUTES.rotateDeviceKey, async (ctx, request) => {
    const uuid = request.params.uuid;
    const body = await request.body();
    const known = await store.devices.get(uuid);
    if (!known || known.uuid !== uuid) throw notFound(`device '${uuid}' is not known`);
    if (known.publicKey === null) throw conflict(`device '${uuid}' has no key to rotate yet: it authenticates first`);
    const who = `the key rotation of device '${uuid}'`;
    const byOld = deviceSignatureProblem(known.publicKey, body, ctx.get(DEVICE_SIGNATURE_HEADER) || undefined);
    if (byOld !== null) throw unauthorized(`${who} is not signed by its current key: ${byOld}`);
    const byNew = deviceSignatureProblem(body.newPublicKey, body, ctx.get(NEW_KEY_SIGNATURE_HEADER) || undefined);
    if (byNew !== null)
      throw unauthorized(`${who} is not signed by the new key (${NEW_KEY_SIGNATURE_HEADER}): ${byNew}`);
    const token = newToken();
    const outcome = await store.devices.rotateKey({
      uuid,
      oldPublicKey: known.publicKey,
      newPublicKey: body.newPublicKey,
      timestamp: freshTimestamp(body.timestamp, who),
      token: token.stored,
      at: deps.now().toISOString(),
    });
    if (outcome.kind === 'refused') {
      throw outcome.status === 401
        ? unauthorized(outcome.reason)
        : new ProblemError(
            outcome.status,
            outcome.status === 409 ? 'conflict' : outcome.status === 404 ? 'not-found' : 'forbidden',
            outcome.reason,
          );
    }
    logger.info({ uuid }, 'device key rotated');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = granted(outcome.device, token);
  });

  on(ROUTES.deviceTarget, async (ctx) => {
    // Plain polls are answered by poll-fast-path.ts before the router; this is the same answer for the rest.
    const me = authenticatedDevice(ctx);
    if (!(await servePoll(deps, ctx, me, authenticatedGeneration(ctx))))
      throw notFound(`fleet '${me.fleet}' does not exist`);
  });

  on(ROUTES.deviceState, async (ctx) => {
    const me = authenticatedDevice(ctx);
    const received = await receiveReport(ctx, store.devices, me.uuid, deps.now().toISOString());
    const report = received.report;
    // The authenticated device record carries the commissioned serial; the reports before and after say what the
    // meter announced.
    const meter = { meterSerial: me.meterSerial };
    if (
      announceWrongMeter(deps.events, me, { ...meter, lastReport: received.before }, { ...meter, lastReport: report })
    ) {
      logger.warn(
        { uuid: me.uuid, commissioned: me.meterSerial, announced: report.meterSerial },
        'device reads another meter than commissioned',
      );
    }
    // The report is answered whatever becomes of its events: they are news, not part of storing it.
    await publishReportEvents(deps.events, store, me, received.before, received.report).catch((err: unknown) =>
      logger.warn({ err, uuid: me.uuid }, 'fleet events: cannot publish what a report changed'),
    );
  });
}

// Who is calling: people and scripts with an API token of a user (protocol/access-policy.ts says what each role may do), devices
// with a token they got by signing an auth request with their own key (routes/device-api.ts). A device token opens
// only its own device's routes, only while the device is accepted, and only until it expires.
import type { Context } from 'koa';
import type { RouterMiddleware } from '@koa/router';
import type { RouteDeps } from '../deps.js';
import { forbidden, unauthorized } from './problem.js';
import type { Action } from '../../protocol/access.js';
import { ACCESS, permits, permitsSomewhere, requirementText, roleOn } from '../../protocol/access-policy.js';
import { hashSecret } from '../keys/secrets.js';
import { deviceNamed } from './device-lookup.js';
import { checkCsrf, sessionOf } from '../web/sessions.js';
import type { DeviceRecord, DeviceStore, Stamp, Store, TargetGeneration, UserRecord } from '../store/index.js';

export interface Caller {
  user: UserRecord;
  /** Id of the API token the request came with; null: a dashboard session (its cookie). */
  tokenId: string | null;
}

export interface ApiState {
  /** The device the request's key belongs to, on device routes. */
  device?: DeviceRecord;
  /** The target generation read with the device's token (../fleet/target-cache.ts), on device routes. */
  targetGeneration?: TargetGeneration;
  /** The user the request's API token belongs to, on people's routes. */
  caller?: Caller;
}

/** The token of an 'Authorization: Bearer <token>' header; null without one. */
export function bearerOf(ctx: Pick<Context, 'get'>): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('Authorization'));
  return match?.[1] ?? null;
}

/** A request once access control let it through. */
export type AuthedContext = { state: ApiState; path: string };

export interface AccessControl {
  /**
   * Authenticates the API token, then lets the request through only if the user's role may do `action`: its role
   * on the fleet the path names (protocol/access-policy.ts), else its global role.
   */
  allow(action: Action): RouterMiddleware<ApiState>;
  /** Whether the authenticated caller may also do `action` on `fleet` (null: globally). */
  may(ctx: AuthedContext, action: Action, fleet: string | null): boolean;
}

/**
 * The bootstrap token (SKIFF_ADMIN_TOKEN or the admin-token file) is registered as a token of the first admin when
 * the app is built; requests wait for that, so the token works from the first request on.
 */
export function accessControl(deps: Pick<RouteDeps, 'store' | 'adminToken' | 'now' | 'logger'>): AccessControl {
  const { store, logger } = deps;
  const bootstrapped = store.users
    .bootstrapAdmin(hashSecret(deps.adminToken), deps.now().toISOString())
    .then((outcome) => {
      if (outcome.kind === 'registered') {
        logger.info({ user: outcome.user, replaced: outcome.replaced }, 'bootstrap admin token registered');
      } else if (outcome.kind === 'revoked') {
        logger.warn(
          { user: outcome.user, revokedAt: outcome.revokedAt },
          'the bootstrap admin token was revoked through the API and stays revoked; delete the admin-token file (or change SKIFF_ADMIN_TOKEN) for a new one',
        );
      }
    });
  bootstrapped.catch((err: unknown) =>
    logger.error({ err }, 'cannot register the bootstrap admin token: every authenticated request will fail'),
  );

  /** A browser's session cookie, when the request has no API token: CSRF-checked on requests that change things. */
  async function sessionCaller(ctx: Context): Promise<Caller | null> {
    const found = await sessionOf(ctx, store, deps.now());
    if (!found) return null;
    checkCsrf(ctx, found.session);
    const user = await store.users.get(found.session.user);
    if (!user) return null;
    return { user, tokenId: null };
  }

  async function authenticate(ctx: Context): Promise<Caller> {
    await bootstrapped;
    const token = bearerOf(ctx);
    if (token === null) {
      const caller = await sessionCaller(ctx);
      if (caller) return caller;
      throw unauthorized(
        `${ctx.method} ${ctx.path} needs an API token as 'Authorization: Bearer <token>' (or a dashboard session)`,
      );
    }
    const found = await store.users.authenticate(hashSecret(token), deps.now().toISOString());
    if (!found) throw unauthorized(`the token sent to ${ctx.method} ${ctx.path} is not a valid API token`);
    if (found.token.revokedAt !== null) {
      throw unauthorized(
        `the token sent to ${ctx.method} ${ctx.path} (id ${found.token.id} of user '${found.user.name}') was revoked at ${found.token.revokedAt}`,
      );
    }
    return { user: found.user, tokenId: found.token.id };
  }

  /**
   * The fleet the request acts on: the path's `:fleet`, the fleet of the path's device (`:uuid`, found as the
   * handlers find it; null when it is unknown or ambiguous: the handler answers, the global role decides), or a
   * listing's `?fleet=` filter (the handler lists only that fleet). Undefined: the request names no fleet.
   */
  async function fleetOf(ctx: Context & { params: Readonly<Record<string, string | undefined>> }) {
    const { params } = ctx;
    if (params.fleet !== undefined) return params.fleet;
    if (params.uuid !== undefined) {
      try {
        return (await deviceNamed(store, params.uuid)).fleet;
      } catch {
        // Unknown or ambiguous: the handler explains it to those whose global role lets them that far.
        return null;
      }
    }
    // A repeated or empty ?fleet= is no scope: the handler refuses it (400) if the global role lets it that far.
    const filter = ctx.query.fleet;
    return typeof filter === 'string' && filter !== '' ? filter : undefined;
  }

  return {
    allow(action) {
      return async (ctx, next) => {
        const caller = await authenticate(ctx);
        const fleet = ACCESS[action].global === true ? undefined : await fleetOf(ctx);
        const allowed =
          fleet === undefined && action === 'read'
            ? permitsSomewhere(caller.user, action)
            : permits(caller.user, action, { fleet, subject: ctx.params.name });
        if (!allowed) {
          const role = roleOn(caller.user, fleet);
          const named = fleet !== undefined && fleet !== null;
          const where = named ? ` on fleet '${fleet}'` : '';
          const granted = named && caller.user.fleetRoles[fleet] !== undefined ? ' (granted on that fleet)' : '';
          const has =
            role === null ? `has no role${named ? where : ' outside the fleets granted'}` : `is ${role}${granted}`;
          throw forbidden(
            `${ctx.method} ${ctx.path} (${action}) needs the role ${requirementText(action)}${where}; user '${caller.user.name}' ${has}`,
          );
        }
        ctx.state.caller = caller;
        await next();
      };
    },
    may(ctx, action, fleet) {
      return permits(authenticatedCaller(ctx).user, action, { fleet });
    },
  };
}

/** The user access control authenticated; calling this on a route without it is a programming error. */
export function authenticatedCaller(ctx: AuthedContext): Caller {
  if (!ctx.state.caller) throw new Error(`${ctx.path} reads the calling user but does not authenticate one`);
  return ctx.state.caller;
}

/** Who made a change and when, for the audit log. */
/** Whether the authenticated caller may do `action` on `fleet`: for listings that show only what it may see. */
export function callerMay(ctx: AuthedContext, action: Action, fleet: string | null): boolean {
  return permits(authenticatedCaller(ctx).user, action, { fleet });
}

export function stampOf(ctx: AuthedContext, now: () => Date): Stamp {
  return { actor: authenticatedCaller(ctx).user.name, at: now().toISOString() };
}

/**
 * The device a bearer token belongs to, if the token is live (issued, not expired, not dropped by a revocation or
 * key rotation) and the device is accepted; null otherwise. For every place that takes device tokens (the device
 * routes, the image registry's token service).
 */
export async function deviceFromToken(
  store: Pick<Store, 'devices'>,
  token: string,
  now: Date = new Date(),
): Promise<DeviceRecord | null> {
  const device = await store.devices.byToken(hashSecret(token), now.toISOString());
  return device !== null && device.authStatus === 'accepted' ? device : null;
}

/**
 * Authenticates the device token and checks it belongs to the route's `:uuid`.
 * The token is looked up in the database on every request, never remembered: revoking a device, rejecting it and
 * rotating its key delete its tokens in the database, so the next request through ANY API instance over that
 * database gets 401, with nothing to invalidate between instances. It is one indexed read (the token's primary
 * key, the device's, the fleet's) that also brings the target generation, so a poll answered from the target
 * cache costs the database nothing more.
 */
export function requireDevice(
  devices: Pick<DeviceStore, 'byTokenWithGeneration'>,
  now: () => Date = () => new Date(),
): RouterMiddleware<ApiState> {
  return async (ctx, next) => {
    const token = bearerOf(ctx);
    if (token === null)
      throw unauthorized(
        `${ctx.method} ${ctx.path} needs a device token as 'Authorization: Bearer <token>' (from POST /v1/device/auth)`,
      );
    const found = await devices.byTokenWithGeneration(hashSecret(token), now().toISOString());
    if (!found)
      throw unauthorized(
        `the token sent to ${ctx.method} ${ctx.path} is no live device token (expired, revoked or unknown): authenticate again`,
      );
    const owner = found.device;
    if (owner.authStatus !== 'accepted') {
      throw unauthorized(
        `device '${owner.uuid}' is ${owner.revokedAt === null ? owner.authStatus : `revoked (at ${owner.revokedAt})`}`,
      );
    }
    const uuid = ctx.params.uuid;
    if (owner.uuid !== uuid)
      throw forbidden(`the token of device '${owner.uuid}' cannot act for device '${uuid ?? ''}'`);
    ctx.state.device = owner;
    ctx.state.targetGeneration = found.generation;
    await next();
  };
}

/** The target generation requireDevice read; calling this on a route without it is a programming error. */
export function authenticatedGeneration(ctx: AuthedContext): TargetGeneration {
  if (!ctx.state.targetGeneration)
    throw new Error(`${ctx.path} reads the target generation but does not require a device`);
  return ctx.state.targetGeneration;
}

/** The device requireDevice authenticated; calling this on a route without it is a programming error. */
export function authenticatedDevice(ctx: AuthedContext): DeviceRecord {
  if (!ctx.state.device) throw new Error(`${ctx.path} reads the authenticated device but does not require one`);
  return ctx.state.device;
}

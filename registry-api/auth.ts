// Who is calling: people and scripts with the admin token, devices with their own key. A device key opens only its
// own device's routes.
import type { Context } from 'koa';
import type { RouterMiddleware } from '@koa/router';
import { forbidden, unauthorized } from './problem.js';
import { hashSecret, sameSecret } from './secrets.js';
import type { DeviceRecord, DeviceStore } from './store/index.js';

export interface ApiState {
  /** The device the request's key belongs to, on device routes. */
  device?: DeviceRecord;
}

function bearerOf(ctx: Context): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('Authorization'));
  return match?.[1] ?? null;
}

export function requireAdmin(adminToken: string): RouterMiddleware<ApiState> {
  return async (ctx, next) => {
    const token = bearerOf(ctx);
    if (token === null) throw unauthorized(`${ctx.method} ${ctx.path} needs the admin token as 'Authorization: Bearer <token>'`);
    if (!sameSecret(token, adminToken)) throw unauthorized(`the token sent to ${ctx.method} ${ctx.path} is not the admin token`);
    await next();
  };
}

/** Authenticates the device key and checks it belongs to the route's `:uuid`. */
export function requireDevice(devices: DeviceStore): RouterMiddleware<ApiState> {
  return async (ctx, next) => {
    const key = bearerOf(ctx);
    if (key === null) throw unauthorized(`${ctx.method} ${ctx.path} needs the device key as 'Authorization: Bearer <key>'`);
    const device = await devices.byKeyHash(hashSecret(key));
    if (!device) throw unauthorized(`the key sent to ${ctx.method} ${ctx.path} is no device's current key (re-registering replaces it)`);
    const uuid = ctx.params.uuid;
    if (device.uuid !== uuid) throw forbidden(`the key of device '${device.uuid}' cannot act for device '${uuid ?? ''}'`);
    ctx.state.device = device;
    await next();
  };
}

/** The device requireDevice authenticated; calling this on a route without it is a programming error. */
export function authenticatedDevice(ctx: { state: ApiState; path: string }): DeviceRecord {
  if (!ctx.state.device) throw new Error(`${ctx.path} reads the authenticated device but does not require one`);
  return ctx.state.device;
}

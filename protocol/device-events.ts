// The push channel: a device keeps GET /v1/device/{uuid}/events open (server-sent events, text/event-stream), a
// connection it opens itself, so it works through any firewall that lets it reach the API. The API sends a
// `target` event with the ETag of the device's target at once and whenever that ETag changes; the device then
// polls the target route as usual (the event carries no target: targets only travel signed, through one route).
// Comment lines (`: heartbeat`) keep proxies from closing an idle connection.
import { Type, type Static } from '@sinclair/typebox';

export const TARGET_EVENT = 'target';

export const TargetEventSchema = Type.Object(
  {
    /** The ETag GET /v1/device/{uuid}/target answers with now. */
    etag: Type.String({ minLength: 1 }),
  },
  { additionalProperties: false },
);
export type TargetEvent = Static<typeof TargetEventSchema>;

/** How often the API sends a heartbeat; a device that hears nothing for 3 of these reconnects. */
export const DEFAULT_HEARTBEAT_MS = 25_000;

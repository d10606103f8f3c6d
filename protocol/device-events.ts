// The push channel: a device keeps GET /v1/device/{uuid}/events open (server-sent events, text/event-stream), a
// connection it opens itself, so it works through any firewall that lets it reach the API. The API sends a
// `target` event with the ETag of the device's target at once and whenever that ETag changes; the device then
// polls the target route as usual (the event carries no target: targets only travel signed, through one route).
// Comment lines (`:`) are heartbeats: they keep carrier NATs and proxies from forgetting an idle connection. The API
// announces their period in a header of the answer (HEARTBEAT_HEADER); both sides derive every other timing of the
// channel from that one number (pushTimings), so an operator tunes one setting to the carriers their fleet uses.
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

/** The answer header that announces the heartbeat period, in whole seconds. */
export const HEARTBEAT_HEADER = 'skiff-heartbeat-seconds';

/**
 * The heartbeat period by default: 10 minutes. Carrier NATs keep an idle TCP mapping for minutes to hours
 * (RFC 5382 asks for at least 2 h 4 min; the shortest common carrier timeouts are around 5 to 30 minutes, which is
 * what SKIFF_PUSH_HEARTBEAT_SECONDS is for). Each heartbeat costs about 140 bytes on the wire (a TLS record in one
 * TCP segment and its ACK), so 10 minutes is some 0.6 MB a month and 4 minutes would be 1.5 MB on its own.
 */
export const DEFAULT_HEARTBEAT_SECONDS = 600;
/** What a device accepts as announced: below, an API would drain its data; above, a NAT would drop the channel. */
export const MIN_HEARTBEAT_SECONDS = 10;
export const MAX_HEARTBEAT_SECONDS = 3600;

export interface PushTimings {
  /** How often the API writes a heartbeat. */
  heartbeatMs: number;
  /** Silence after which the device holds the channel dead: one heartbeat may be lost, not two. */
  deviceSilenceMs: number;
  /**
   * The TCP keepalive delay on both ends. Data and its ACKs restart the kernel's keepalive timer, so while
   * heartbeats flow no probe is ever sent; it only finds a peer that vanished (a channel the API writes to but no
   * longer hears ACKs from is ended by TCP's retransmission limit first, this covers an idle connection).
   */
  tcpKeepAliveMs: number;
  /**
   * How long the device keeps its request connection idle for the next request (a pin's poll, reports and
   * downloads follow each other within seconds): below the heartbeat, so below what a NAT keeps.
   */
  requestIdleMs: number;
  /** The API keeps an idle connection a little longer than the device, so the device is the one that closes it. */
  serverKeepAliveMs: number;
}

/** Every timing of the push channel, from the one heartbeat period (seconds, already bounded). */
export function pushTimings(heartbeatSeconds: number): PushTimings {
  const heartbeatMs = heartbeatSeconds * 1000;
  return {
    heartbeatMs,
    deviceSilenceMs: 2 * heartbeatMs + 30_000,
    tcpKeepAliveMs: 2 * heartbeatMs + 60_000,
    requestIdleMs: Math.min(heartbeatMs, 120_000),
    serverKeepAliveMs: Math.min(heartbeatMs, 120_000) + 10_000,
  };
}

/**
 * The heartbeat period a device takes from the announcing header: null when absent or not a whole number of
 * seconds; clamped to [MIN_HEARTBEAT_SECONDS, MAX_HEARTBEAT_SECONDS] (the header comes from the network).
 */
export function announcedHeartbeatSeconds(header: string | null): number | null {
  if (header === null || !/^\d{1,7}$/.test(header.trim())) return null;
  return Math.min(MAX_HEARTBEAT_SECONDS, Math.max(MIN_HEARTBEAT_SECONDS, Number(header.trim())));
}

/**
 * Remote actions (protocol/device-actions.ts): an `action` event names an action waiting for the device, which
 * then fetches its pending actions over its own authenticated route; the event itself carries no order.
 */
export const ACTION_EVENT = 'action';

export const ActionEventSchema = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[0-9a-f-]+$' }) },
  { additionalProperties: false },
);
export type ActionEvent = Static<typeof ActionEventSchema>;

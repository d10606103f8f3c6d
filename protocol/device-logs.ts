// Fleet logs, on demand: devices sit behind NAT on metered links, so no log line leaves a device unless someone
// asks. A person asks the API (GET /v1/devices/{uuid}/logs, or .../logs/follow); the API tells the device through
// its push channel (protocol/device-events.ts) with a `logs` event; the device answers with batches it POSTs to
// /v1/device/{uuid}/logs: first the snapshot the event asked for (the last `tail` lines of each service, marked with
// the request's id), then, while a follow want lasts, the lines its services print. A want lasts `followMs` from
// when the device hears it; followers renew it, so it ends on its own soon after the last one left.
import { Type, type Static } from '@sinclair/typebox';

/** The push channel event that asks a device for logs (a device that does not know it ignores it). */
export const LOGS_EVENT = 'logs';

/** Longer lines are cut on the device (and marked `truncated`): one runaway line must not cost megabytes. */
export const MAX_LOG_LINE_CHARS = 2_000;
/** Lines per POST; the device also keeps a batch under MAX_BATCH_BYTES of JSON. */
export const MAX_BATCH_LINES = 500;
export const MAX_BATCH_BYTES = 256 * 1024;
/** The most lines per service anyone may ask for at once. */
export const MAX_TAIL = 1_000;
export const DEFAULT_TAIL = 100;
/** The longest a device follows on one event, whatever the event says. */
export const MAX_FOLLOW_MS = 10 * 60_000;
/** How long a follow want lasts on the device, and how often a follower renews it. */
export const DEFAULT_FOLLOW_MS = 120_000;
export const DEFAULT_RENEW_MS = 30_000;
/** How long the API waits for a device's snapshot by default, and at most. */
export const DEFAULT_WAIT_SECONDS = 15;
export const MAX_WAIT_SECONDS = 120;

/** Compose's service names (protocol/compose/normalize.ts). */
export const ServiceNameSchema = Type.String({ minLength: 1, maxLength: 128, pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]*$' });
const RequestIdSchema = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' });

export const LogsEventSchema = Type.Object(
  {
    /** Names the snapshot the device sends in answer. */
    request: RequestIdSchema,
    /** Only these services; null: every service the device runs. */
    services: Type.Union([Type.Array(ServiceNameSchema, { maxItems: 64 }), Type.Null()]),
    /** Lines per service for the snapshot; null: no snapshot, only (go on) following. */
    tail: Type.Union([Type.Integer({ minimum: 0, maximum: MAX_TAIL }), Type.Null()]),
    /** Follow the services for this long from now (0: do not follow). A duration, not a time: device clocks drift. */
    followMs: Type.Integer({ minimum: 0, maximum: MAX_FOLLOW_MS }),
  },
  { additionalProperties: false },
);
export type LogsEvent = Static<typeof LogsEventSchema>;

export const DeviceLogLineSchema = Type.Object(
  {
    service: ServiceNameSchema,
    /** The container that printed it (a new release brings a new one). */
    containerId: Type.String({ pattern: '^[a-f0-9]{12,64}$' }),
    /** RFC 3339 with up to nanoseconds, as the container engine stamps it. */
    timestamp: Type.String({ format: 'date-time', maxLength: 40 }),
    stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]),
    text: Type.String({ maxLength: MAX_LOG_LINE_CHARS }),
    /** The device cut the line at MAX_LOG_LINE_CHARS. */
    truncated: Type.Optional(Type.Literal(true)),
  },
  { additionalProperties: false },
);
export type DeviceLogLine = Static<typeof DeviceLogLineSchema>;

export const LogBatchSchema = Type.Object(
  {
    lines: Type.Array(DeviceLogLineSchema, { maxItems: MAX_BATCH_LINES }),
    /** Present on the answer to a `logs` event with a tail; absent on followed lines. */
    snapshot: Type.Optional(
      Type.Object(
        {
          request: RequestIdSchema,
          /** The last batch of this snapshot. */
          final: Type.Boolean(),
          /** Every service the device has a container of (asked for or not: the asker learns what there is). */
          services: Type.Array(ServiceNameSchema, { maxItems: 256 }),
        },
        { additionalProperties: false },
      ),
    ),
    /** Followed lines the device could not send (its services printed faster than it ships). */
    dropped: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type LogBatch = Static<typeof LogBatchSchema>;

/** Query of both people's routes: `service` may repeat. */
export const DeviceLogsQuerySchema = Type.Object(
  {
    service: Type.Optional(
      Type.Union([ServiceNameSchema, Type.Array(ServiceNameSchema, { minItems: 1, maxItems: 64 })]),
    ),
    /** 0 to MAX_TAIL. */
    tail: Type.Optional(Type.String({ pattern: '^(0|[1-9][0-9]{0,2}|1000)$' })),
    /** Seconds to wait for the device's snapshot: 1 to MAX_WAIT_SECONDS. */
    wait: Type.Optional(Type.String({ pattern: '^([1-9][0-9]?|1[01][0-9]|120)$' })),
  },
  { additionalProperties: false },
);
export type DeviceLogsQuery = Static<typeof DeviceLogsQuerySchema>;

export const DeviceLogsSchema = Type.Object(
  {
    uuid: Type.String(),
    /** The services the device found (of those asked for). */
    services: Type.Array(Type.String()),
    /** The last lines of each service, oldest first. */
    lines: Type.Array(DeviceLogLineSchema),
  },
  { additionalProperties: false },
);
export type DeviceLogs = Static<typeof DeviceLogsSchema>;

/** Events of the follow stream. */
export const LINES_EVENT = 'lines';
/** The follower fell behind the API's buffer: some lines of these services were dropped before it read them. */
export const GAP_EVENT = 'gap';

export const LinesEventSchema = Type.Object(
  {
    lines: Type.Array(DeviceLogLineSchema),
    /** Present once, on the first event: the services the device found. */
    services: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);
export type LinesEvent = Static<typeof LinesEventSchema>;

export const GapEventSchema = Type.Object(
  {
    services: Type.Array(Type.String()),
    /** Lines the device itself dropped, when it says so. */
    dropped: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type GapEvent = Static<typeof GapEventSchema>;

/**
 * An engine timestamp (RFC 3339, fraction of any length up to nanoseconds, Z or an offset) as nanoseconds since the
 * epoch: the engine drops trailing zeros of the fraction, so the strings do not sort as text. NaN-like input is -1.
 */
export function timestampNanos(timestamp: string): bigint {
  const match = /^(.*?:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)$/i.exec(timestamp);
  if (match === null) return -1n;
  const seconds = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(seconds)) return -1n;
  return BigInt(seconds) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0'));
}

/** Lines of several services in time order; lines of one instant keep the order they came in. */
export function byTime<T extends { timestamp: string }>(lines: readonly T[]): T[] {
  const keyed = lines.map((line) => ({ line, at: timestampNanos(line.timestamp) }));
  keyed.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  return keyed.map((k) => k.line);
}

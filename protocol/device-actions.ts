// Remote actions: an operator asks a device to restart, stop or start one of its services, to reboot, or to collect
// a diagnostics bundle. The API records the action (persisted, audited, with a bounded lifetime) and tells the
// device through its push channel with an `action` event (protocol/device-events.ts) that names nothing but the
// action's id. The device then fetches its pending actions over its authenticated HTTP route, the same way it
// fetches its target, so an event someone forged on the channel can do nothing but cause that fetch. It runs each
// through the code its local API uses and posts the result. A device that is offline gets its pending actions when
// its channel opens again, unless they expired meanwhile: a reboot asked for a week ago is no longer wanted.
import { Type, type Static } from '@sinclair/typebox';
import { ServiceNameSchema } from './device-logs.js';

export const DEVICE_ACTION_KINDS = ['restart', 'stop', 'start', 'reboot', 'diagnose'] as const;
export const DeviceActionKindSchema = Type.Union(DEVICE_ACTION_KINDS.map((kind) => Type.Literal(kind)));
export type DeviceActionKind = Static<typeof DeviceActionKindSchema>;

/** The kinds that act on one service (and need its name). */
export const SERVICE_ACTION_KINDS: readonly DeviceActionKind[] = ['restart', 'stop', 'start'];

/**
 * pending: waiting for the device to fetch it; delivered: the device fetched it (it gets it once, so a reboot is
 * never run twice); succeeded or failed: the device's result; expired: not fetched, or fetched but not answered,
 * within its lifetime.
 */
export const DEVICE_ACTION_STATUSES = ['pending', 'delivered', 'succeeded', 'failed', 'expired'] as const;
export const DeviceActionStatusSchema = Type.Union(DEVICE_ACTION_STATUSES.map((s) => Type.Literal(s)));
export type DeviceActionStatus = Static<typeof DeviceActionStatusSchema>;

/** How long an action waits for its device by default, and at least and at most. */
export const DEFAULT_ACTION_TTL_SECONDS = 15 * 60;
export const MIN_ACTION_TTL_SECONDS = 10;
export const MAX_ACTION_TTL_SECONDS = 7 * 24 * 3600;
/** The most actions a device may have waiting; more are refused (409) rather than queued without end. */
export const MAX_PENDING_ACTIONS = 16;
/** A result message, as the device may send it. */
export const MAX_ACTION_MESSAGE_CHARS = 2_000;
/** The largest diagnostics bundle the API takes, as JSON text. */
export const MAX_DIAGNOSTICS_BYTES = 1024 * 1024;

const ActionIdSchema = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });

export const CreateDeviceActionRequestSchema = Type.Object(
  {
    action: DeviceActionKindSchema,
    /** The service restart, stop and start act on; none for reboot and diagnose. */
    service: Type.Optional(ServiceNameSchema),
    /** How long the action waits for the device (default DEFAULT_ACTION_TTL_SECONDS). */
    ttlSeconds: Type.Optional(Type.Integer({ minimum: MIN_ACTION_TTL_SECONDS, maximum: MAX_ACTION_TTL_SECONDS })),
  },
  { additionalProperties: false },
);
export type CreateDeviceActionRequest = Static<typeof CreateDeviceActionRequestSchema>;

/** An action as people read it. */
export const DeviceActionSchema = Type.Object(
  {
    id: Type.String(),
    device: Type.String(),
    fleet: Type.String(),
    action: DeviceActionKindSchema,
    service: Type.Union([Type.String(), Type.Null()]),
    status: DeviceActionStatusSchema,
    requestedBy: Type.String(),
    createdAt: Type.String(),
    expiresAt: Type.String(),
    deliveredAt: Type.Union([Type.String(), Type.Null()]),
    finishedAt: Type.Union([Type.String(), Type.Null()]),
    /** What the device said of it (or why it expired). */
    message: Type.Union([Type.String(), Type.Null()]),
    /** A diagnose action whose bundle the device uploaded. */
    hasDiagnostics: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type DeviceAction = Static<typeof DeviceActionSchema>;

/** An action as its device gets it: only what it needs to run it. */
export const DeviceActionOrderSchema = Type.Object(
  {
    id: ActionIdSchema,
    action: DeviceActionKindSchema,
    service: Type.Union([ServiceNameSchema, Type.Null()]),
    expiresAt: Type.String({ format: 'date-time', maxLength: 64 }),
  },
  { additionalProperties: false },
);
export type DeviceActionOrder = Static<typeof DeviceActionOrderSchema>;

export const DeviceActionOrdersSchema = Type.Array(DeviceActionOrderSchema, { maxItems: MAX_PENDING_ACTIONS });

const Bounded = (maxLength: number) => Type.String({ maxLength });
/** A section of the bundle that could not be collected says why instead. */
const Unavailable = Type.Object({ unavailable: Bounded(1_000) }, { additionalProperties: false });

/** One timed request from the device. */
export const ReachabilitySchema = Type.Object(
  {
    target: Type.Union([Type.Literal('api'), Type.Literal('registry')]),
    url: Bounded(1_024),
    /** The HTTP status (any answer proves the way is open), or null when none came. */
    status: Type.Union([Type.Integer(), Type.Null()]),
    ms: Type.Integer({ minimum: 0 }),
    error: Type.Union([Bounded(1_000), Type.Null()]),
  },
  { additionalProperties: false },
);
export type Reachability = Static<typeof ReachabilitySchema>;

/**
 * What a device collects for a diagnose action: JSON, so the API can bound and check it, the CLI can print parts
 * of it, and a person can read the file it writes with any editor. No secrets: the supervisor's config is sent
 * without its tokens and keys.
 */
export const DiagnosticsBundleSchema = Type.Object(
  {
    uuid: Bounded(64),
    collectedAt: Type.String({ format: 'date-time', maxLength: 64 }),
    supervisorVersion: Bounded(128),
    /** The supervisor's config without secrets (tokens, keys). */
    config: Type.Record(Bounded(64), Type.Unknown()),
    /** The engine's /info, reduced to what diagnoses a device. */
    engine: Type.Union([Type.Record(Bounded(64), Type.Unknown()), Unavailable]),
    host: Type.Object(
      {
        hostname: Bounded(256),
        kernel: Bounded(256),
        uptimeSeconds: Type.Number({ minimum: 0 }),
        loadAverage: Type.Array(Type.Number(), { maxItems: 3 }),
      },
      { additionalProperties: false },
    ),
    memory: Type.Object(
      {
        totalBytes: Type.Integer({ minimum: 0 }),
        freeBytes: Type.Integer({ minimum: 0 }),
        /** MemAvailable of /proc/meminfo where there is one. */
        availableBytes: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
      },
      { additionalProperties: false },
    ),
    disks: Type.Array(
      Type.Union([
        Type.Object(
          {
            path: Bounded(1_024),
            totalBytes: Type.Integer({ minimum: 0 }),
            freeBytes: Type.Integer({ minimum: 0 }),
          },
          { additionalProperties: false },
        ),
        Type.Object({ path: Bounded(1_024), unavailable: Bounded(1_000) }, { additionalProperties: false }),
      ]),
      { maxItems: 8 },
    ),
    /** The last kernel messages (dmesg), or why they could not be read. */
    kernel: Type.Union([
      Type.Object({ lines: Type.Array(Bounded(1_000), { maxItems: 500 }) }, { additionalProperties: false }),
      Unavailable,
    ]),
    connectivity: Type.Array(ReachabilitySchema, { maxItems: 4 }),
    clock: Type.Object(
      {
        /** The device's clock minus the API's (its Date header), in ms; null when the API did not answer. */
        offsetMs: Type.Union([Type.Integer(), Type.Null()]),
        /** Half the round trip the offset was measured over: the Date header's resolution is a second anyway. */
        uncertaintyMs: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
        apiDate: Type.Union([Bounded(64), Type.Null()]),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type DiagnosticsBundle = Static<typeof DiagnosticsBundleSchema>;

/** What the device posts when it ran (or could not run) an action. */
export const DeviceActionResultSchema = Type.Object(
  {
    status: Type.Union([Type.Literal('succeeded'), Type.Literal('failed')]),
    message: Type.Union([Bounded(MAX_ACTION_MESSAGE_CHARS), Type.Null()]),
    /** The bundle of a diagnose action. */
    diagnostics: Type.Optional(DiagnosticsBundleSchema),
  },
  { additionalProperties: false },
);
export type DeviceActionResult = Static<typeof DeviceActionResultSchema>;

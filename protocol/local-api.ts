// The device-local API (supervisor/local-api/): what the device's own services, a technician on site and
// `skiff push --local` talk to. Bound to loopback by default; every route but ping and healthy needs the key
// (DATA_DIR/local-api.key) as `Authorization: Bearer <key>`.
import { Type, type Static } from '@sinclair/typebox';
import { StateReportSchema, TrafficReportSchema } from './state-report.js';

export const DEFAULT_LOCAL_API_PORT = 48484;

export const localPaths = {
  ping: '/ping',
  healthy: '/v1/healthy',
  state: '/v1/state',
  service: (service: string, action: 'restart' | 'stop' | 'start') =>
    `/v1/services/${encodeURIComponent(service)}/${action}`,
  logs: (service: string) => `/v1/services/${encodeURIComponent(service)}/logs`,
  /** PUT: the service's own account of doing its job (ServiceHealthRequest), judged against its release's labels. */
  health: (service: string) => `/v1/services/${encodeURIComponent(service)}/health`,
  reboot: '/v1/reboot',
  /** PUT enters local mode with a compose file, DELETE leaves it, GET shows it. */
  localTarget: '/v1/local/target',
} as const;

export const HealthSchema = Type.Object(
  {
    healthy: Type.Boolean(),
    /** Each check by name: null when it passed, else what is wrong. The network is not among them. */
    checks: Type.Record(Type.String(), Type.Union([Type.String(), Type.Null()])),
  },
  { additionalProperties: false },
);
export type Health = Static<typeof HealthSchema>;

export const LocalStateSchema = Type.Object(
  {
    uuid: Type.String(),
    report: StateReportSchema,
    localMode: Type.Boolean(),
    /** Whether the last target poll reached the API; null before the first. */
    apiReachable: Type.Union([Type.Boolean(), Type.Null()]),
    pushConnected: Type.Boolean(),
    /** The device's HTTP bytes by purpose this month and today (UTC); absent before it went online. */
    traffic: Type.Optional(
      Type.Object(
        {
          month: TrafficReportSchema,
          today: Type.Object({ date: Type.String(), bytes: TrafficReportSchema.properties.bytes }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type LocalState = Static<typeof LocalStateSchema>;

/** Longest detail a service may give with its health; longer is refused, not cut. */
export const SERVICE_HEALTH_DETAIL_CHARS = 256;

/**
 * A service's health as it reports it: a number (for a meter reader the share of good telegrams, judged against
 * its release's `io.skiff.health.min`) or pass/fail, with a short detail. The same shape is read from the file
 * `health.json` a service may write into its own SKIFF_LOCK_DIR instead (a container on a bridge network cannot
 * reach the loopback API).
 */
export const ServiceHealthRequestSchema = Type.Union([
  Type.Object(
    {
      value: Type.Number({ minimum: -1e9, maximum: 1e9 }),
      detail: Type.Optional(Type.String({ maxLength: SERVICE_HEALTH_DETAIL_CHARS })),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      pass: Type.Boolean(),
      detail: Type.Optional(Type.String({ maxLength: SERVICE_HEALTH_DETAIL_CHARS })),
    },
    { additionalProperties: false },
  ),
]);
export type ServiceHealthRequest = Static<typeof ServiceHealthRequestSchema>;

export const LocalTargetRequestSchema = Type.Object(
  {
    /** A compose file, normalised on the device exactly as the API normalises a release's. */
    compose: Type.String({ minLength: 1, maxLength: 1_000_000 }),
    /** Service name to the digest reference it runs (what the CLI built and pushed). */
    images: Type.Record(Type.String(), Type.String({ pattern: '@sha256:[a-f0-9]{64}$' })),
  },
  { additionalProperties: false },
);
export type LocalTargetRequest = Static<typeof LocalTargetRequestSchema>;

export const LocalTargetAnswerSchema = Type.Object(
  {
    releaseId: Type.String(),
    services: Type.Array(Type.String()),
  },
  { additionalProperties: false },
);
export type LocalTargetAnswer = Static<typeof LocalTargetAnswerSchema>;

/** Every answer of 400 and up: what is wrong, and for a refused body each field at fault. */
export const LocalApiErrorBodySchema = Type.Object({
  error: Type.String(),
  issues: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
});
export type LocalApiErrorBody = Static<typeof LocalApiErrorBodySchema>;

export const ServiceActionAnswerSchema = Type.Object(
  {
    service: Type.String(),
    containerId: Type.String(),
  },
  { additionalProperties: false },
);
export type ServiceActionAnswer = Static<typeof ServiceActionAnswerSchema>;

export const LogLineSchema = Type.Object(
  {
    stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]),
    timestamp: Type.String(),
    text: Type.String(),
  },
  { additionalProperties: false },
);

// A device's metrics over time, as the API keeps them (registry-api/store/metrics.ts): the last hour at full
// resolution (one sample per 10 s at most), 30 days in 15-minute buckets with average, minimum and maximum.
import { Type, type Static } from '@sinclair/typebox';

export const METRICS_RESOLUTIONS = ['raw', '15m'] as const;
export type MetricsResolution = (typeof METRICS_RESOLUTIONS)[number];

/** How far back a question may reach, and how many points one answer holds at most. */
export const METRICS_MAX_RANGE_DAYS = 30;
export const METRICS_MAX_POINTS = 3000;

const StatSchema = Type.Object(
  { avg: Type.Number(), min: Type.Number(), max: Type.Number() },
  { additionalProperties: false },
);
export type MetricStat = Static<typeof StatSchema>;

export const MetricPointSchema = Type.Object(
  {
    /** The sample's time (raw), or the start of its bucket (15m). */
    at: Type.String({ format: 'date-time' }),
    /** How many samples the point sums up (1 for raw). */
    samples: Type.Integer({ minimum: 0 }),
    cpuPercent: StatSchema,
    memoryUsedBytes: StatSchema,
    memoryTotalBytes: Type.Integer({ minimum: 0 }),
    /** Null: the device reported no temperature in it. */
    temperatureCelsius: Type.Union([StatSchema, Type.Null()]),
    diskUsedBytes: StatSchema,
    diskTotalBytes: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type MetricPoint = Static<typeof MetricPointSchema>;

export const DeviceMetricsHistorySchema = Type.Object(
  {
    uuid: Type.String(),
    from: Type.String({ format: 'date-time' }),
    to: Type.String({ format: 'date-time' }),
    /** raw when the whole range is within the last hour, else 15m. */
    resolution: Type.Union(METRICS_RESOLUTIONS.map((r) => Type.Literal(r))),
    /** Oldest first; at most METRICS_MAX_POINTS. */
    points: Type.Array(MetricPointSchema),
  },
  { additionalProperties: false },
);
export type DeviceMetricsHistory = Static<typeof DeviceMetricsHistorySchema>;

export const DeviceMetricsQuerySchema = Type.Object(
  {
    /** ISO-8601; default an hour before `to`. */
    from: Type.Optional(Type.String({ maxLength: 64 })),
    /** ISO-8601; default now. */
    to: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type DeviceMetricsQuery = Static<typeof DeviceMetricsQuerySchema>;

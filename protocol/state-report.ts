// What a device tells the API about itself: what runs, which release, how the update goes, how it feels.
import { Type, type Static } from '@sinclair/typebox';

/**
 * How long a report's fields may be. What a device reports reaches every operator's device list and detail, so one
 * device must not be able to make them megabytes; each bound is well above anything a real device sends (a Pi runs
 * a handful of services; a Docker image reference is at most about 460 characters with its tag and digest). A
 * report over a bound is refused whole (400), so a supervisor clips its own text fields to these.
 */
export const REPORT_LIMITS = {
  /** An error or RAUC's reason: room for a multi-line message from the engine or the registry. */
  errorChars: 8_192,
  /** A service or container name (target-state.ts allows 128 for services; container names run longer). */
  nameChars: 256,
  imageChars: 1_024,
  /** Release ids, container ids, versions, slot names. */
  idChars: 128,
  /** Services in a report, images in flight, services per image. */
  items: 256,
} as const;

/**
 * `text` cut to `max` characters, saying how much was cut: a device keeps its reports within REPORT_LIMITS, so an
 * over-long error (an engine's or registry's message) never gets the whole report refused.
 */
export function clipReportText(text: string, max: number = REPORT_LIMITS.errorChars): string {
  if (text.length <= max) return text;
  const note = ` ... (${text.length - max} more characters)`;
  return text.slice(0, Math.max(0, max - note.length)) + note;
}

const Text = (maxLength: number) => Type.String({ maxLength });
const Id = Text(REPORT_LIMITS.idChars);

export const ServiceStateSchema = Type.Union([
  Type.Literal('running'),
  Type.Literal('created'),
  Type.Literal('restarting'),
  Type.Literal('exited'),
  Type.Literal('paused'),
  Type.Literal('dead'),
  Type.Literal('removing'),
  /** In the target but no container exists yet (e.g. image still downloading). */
  Type.Literal('missing'),
]);
export type ServiceState = Static<typeof ServiceStateSchema>;

/**
 * A service's own account of doing its job (for a meter reader: the share of good telegrams), as it told the
 * supervisor, judged by the supervisor against what its release declares; what rollouts judge a release by.
 */
export const AppHealthSchema = Type.Object(
  {
    /** Whether the service does its job by its release's declared threshold. */
    ok: Type.Boolean(),
    /** The number it reported (e.g. 0.97); null when it reported pass or fail only. */
    value: Type.Union([Type.Number(), Type.Null()]),
    /** Its own short words about it. */
    detail: Type.Union([Text(256), Type.Null()]),
    reportedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type AppHealth = Static<typeof AppHealthSchema>;

/** The device rolled a release back by itself to its last good one: it did not become healthy in time, or crash-looped. */
export const AppRollbackSchema = Type.Object(
  {
    /** The release it gave up on; it does not try it again until its target names another release and back. */
    fromReleaseId: Id,
    /** The release it went back to; null when it had none good before. */
    toReleaseId: Type.Union([Id, Type.Null()]),
    reason: Text(REPORT_LIMITS.errorChars),
    at: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type AppRollback = Static<typeof AppRollbackSchema>;

export const ServiceReportSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: REPORT_LIMITS.nameChars }),
    /** The release whose definition this container runs; null for a container of no known release. */
    releaseId: Type.Union([Id, Type.Null()]),
    image: Text(REPORT_LIMITS.imageChars),
    containerId: Type.Union([Id, Type.Null()]),
    state: ServiceStateSchema,
    health: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy'), Type.Literal('starting'), Type.Null()]),
    exitCode: Type.Union([Type.Integer(), Type.Null()]),
    /** The service holds its update lock and so holds back the update (supervisor/reconcile/update-lock.ts). */
    locked: Type.Optional(Type.Boolean()),
    /** Stopped on purpose through the device-local API: the supervisor does not start it until told to. */
    held: Type.Optional(Type.Boolean()),
    /** How often its container restarted (by the engine's restart policy or the supervisor) since it was created. */
    restarts: Type.Optional(Type.Integer({ minimum: 0 })),
    /** It keeps crashing and restarting: the supervisor's judgement, a failure for rollouts and app rollback. */
    restartLoop: Type.Optional(Type.Boolean()),
    appHealth: Type.Optional(AppHealthSchema),
  },
  { additionalProperties: false },
);
export type ServiceReport = Static<typeof ServiceReportSchema>;

export const UpdateStatusSchema = Type.Union([
  /** Running what the target says. */
  Type.Literal('converged'),
  Type.Literal('downloading'),
  Type.Literal('applying'),
  /** The last attempt failed; `error` says why. The device keeps running what it has and retries. */
  Type.Literal('error'),
]);
export type UpdateStatus = Static<typeof UpdateStatusSchema>;

export const DeviceMetricsSchema = Type.Object(
  {
    cpuPercent: Type.Number(),
    memoryUsedBytes: Type.Integer({ minimum: 0 }),
    memoryTotalBytes: Type.Integer({ minimum: 0 }),
    temperatureCelsius: Type.Union([Type.Number(), Type.Null()]),
    diskUsedBytes: Type.Integer({ minimum: 0 }),
    diskTotalBytes: Type.Integer({ minimum: 0 }),
    uptimeSeconds: Type.Number({ minimum: 0 }),
    /** The Pi's firmware saw the supply drop below 4.63 V since boot; absent where the firmware does not say. */
    undervoltage: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type DeviceMetrics = Static<typeof DeviceMetricsSchema>;

export const UpdateProgressSchema = Type.Object(
  {
    imagesPresent: Type.Integer({ minimum: 0 }),
    imagesTotal: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type UpdateProgress = Static<typeof UpdateProgressSchema>;

/** Where a host OS update stands (supervisor/os-update): idle, a step of the update, or how the last one ended. */
export const OsUpdateStateSchema = Type.Union([
  Type.Literal('idle'),
  Type.Literal('download'),
  Type.Literal('verify'),
  Type.Literal('install'),
  Type.Literal('reboot'),
  Type.Literal('verify-boot'),
  Type.Literal('commit'),
  Type.Literal('rollback'),
  Type.Literal('rollback-reboot'),
  Type.Literal('committed'),
  Type.Literal('failed'),
]);
export type OsUpdateState = Static<typeof OsUpdateStateSchema>;

export const HostOsReportSchema = Type.Object(
  {
    /** The OS version the booted slot runs; null when unknown. */
    version: Type.Union([Id, Type.Null()]),
    /** The booted A/B slot's bootname. */
    slot: Type.Union([Id, Type.Null()]),
    updateState: OsUpdateStateSchema,
    /** Why the last OS update failed or was rolled back (RAUC's own words where it refused a bundle). */
    lastError: Type.Union([Text(REPORT_LIMITS.errorChars), Type.Null()]),
  },
  { additionalProperties: false },
);
export type HostOsReport = Static<typeof HostOsReportSchema>;

/** One image being delivered, for the services that need it. */
export const ImageDownloadSchema = Type.Object(
  {
    services: Type.Array(Type.String({ minLength: 1, maxLength: REPORT_LIMITS.nameChars }), {
      maxItems: REPORT_LIMITS.items,
    }),
    image: Text(REPORT_LIMITS.imageChars),
    /** delta: binary patches against layers the device has; full: whole layers. */
    source: Type.Union([Type.Literal('delta'), Type.Literal('full')]),
    bytesDone: Type.Integer({ minimum: 0 }),
    bytesTotal: Type.Integer({ minimum: 0 }),
    percent: Type.Number({ minimum: 0, maximum: 100 }),
  },
  { additionalProperties: false },
);
export type ImageDownload = Static<typeof ImageDownloadSchema>;

/** The update window as the device judges it now (supervisor/reconcile/update-window.ts). */
export const UpdateWindowReportSchema = Type.Object(
  {
    state: Type.Union([Type.Literal('none'), Type.Literal('open'), Type.Literal('closed'), Type.Literal('forced')]),
    downloadAllowed: Type.Boolean(),
    applyAllowed: Type.Boolean(),
    closesAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    nextOpening: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type UpdateWindowReport = Static<typeof UpdateWindowReportSchema>;

/**
 * What a device's bytes go to, as it counts them at its one HTTP client and its downloader: signing in, target
 * polls, the push channel, state reports, log lines, image manifests, image layers, layer deltas, host OS bundles,
 * and what fits none of them.
 */
export const TRAFFIC_PURPOSES = [
  'auth',
  'polls',
  'push',
  'reports',
  'logs',
  'manifests',
  'blobs',
  'deltas',
  'os',
  'other',
] as const;
export type TrafficPurpose = (typeof TRAFFIC_PURPOSES)[number];

const ByteCount = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
/**
 * [sent, received]. Not Type.Tuple: its `items: [...]` is draft-07 only and makes the OpenAPI document (JSON
 * Schema 2020-12) invalid; two items of one schema mean the same in both drafts.
 */
const SentReceived = Type.Unsafe<[number, number]>(Type.Array(ByteCount, { minItems: 2, maxItems: 2 }));

/**
 * The device's HTTP bytes this calendar month (UTC), [sent, received] per purpose; purposes with no byte are left
 * out. Compact on purpose: it rides along on reports sent for other reasons.
 */
export const TrafficReportSchema = Type.Object(
  {
    month: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}$' }),
    bytes: Type.Partial(
      Type.Object(
        Object.fromEntries(TRAFFIC_PURPOSES.map((purpose) => [purpose, SentReceived])) as Record<
          TrafficPurpose,
          typeof SentReceived
        >,
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type TrafficReport = Static<typeof TrafficReportSchema>;

/** One period's data use as the API keeps it: a month ('YYYY-MM') or a day ('YYYY-MM-DD'), by purpose. */
export const DataUsePeriodSchema = Type.Object(
  {
    period: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$' }),
    bytes: TrafficReportSchema.properties.bytes,
  },
  { additionalProperties: false },
);
export type DataUsePeriod = Static<typeof DataUsePeriodSchema>;

/** A fleet's devices' data use in one month, summed over those that reported any. */
export const FleetDataUseSchema = Type.Object(
  {
    month: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}$' }),
    devices: Type.Integer({ minimum: 0 }),
    sent: ByteCount,
    received: ByteCount,
  },
  { additionalProperties: false },
);
export type FleetDataUse = Static<typeof FleetDataUseSchema>;

export const StateReportSchema = Type.Object(
  {
    supervisorVersion: Id,
    updateStatus: UpdateStatusSchema,
    /** The release the device was told to run; null if it has no target yet. */
    targetReleaseId: Type.Union([Id, Type.Null()]),
    /** The release every service runs; null while services are of mixed or unknown releases. */
    releaseId: Type.Union([Id, Type.Null()]),
    services: Type.Array(ServiceReportSchema, { maxItems: REPORT_LIMITS.items }),
    error: Type.Union([Text(REPORT_LIMITS.errorChars), Type.Null()]),
    metrics: Type.Optional(DeviceMetricsSchema),
    /** While downloading: how many of the target's images the engine has. */
    progress: Type.Optional(UpdateProgressSchema),
    /** The device runs a developer's compose file (local mode) and ignores its fleet's target meanwhile. */
    localMode: Type.Optional(Type.Boolean()),
    osVersion: Type.Optional(Id),
    hostOs: Type.Optional(HostOsReportSchema),
    reportedAt: Type.String({ format: 'date-time' }),
    downloads: Type.Optional(Type.Array(ImageDownloadSchema, { maxItems: REPORT_LIMITS.items })),
    updateWindow: Type.Optional(UpdateWindowReportSchema),
    /** The last release this device rolled back by itself, while its target still names that release. */
    rollback: Type.Optional(AppRollbackSchema),
    traffic: Type.Optional(TrafficReportSchema),
    /**
     * The equipment identifier the meter the device reads announces (DSMR OBIS 0-0:96.1.1, decoded), as the meter
     * reader told the supervisor; absent when none did. The API compares it with the commissioned serial.
     */
    meterSerial: Type.Optional(Type.String({ minLength: 1, maxLength: 96, pattern: '^[!-~]+$' })),
    /**
     * The pending update waits for the monthly data budget to start afresh (it does not fit what is left): why,
     * and until when. updateStatus stays 'downloading' meanwhile, with nothing downloaded.
     */
    deferred: Type.Optional(
      Type.Object(
        {
          reason: Type.Literal('data-budget'),
          message: Text(REPORT_LIMITS.errorChars),
          until: Type.String({ format: 'date-time', maxLength: 64 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type StateReport = Static<typeof StateReportSchema>;

/**
 * The services that changed since the report a partial one is based on: a health change of one service is one
 * service's entry, not the whole list again. Applied by name: `set` replaces a service's entry (or adds it at the
 * end), `removed` drops entries.
 */
export const ServiceChangesSchema = Type.Object(
  {
    set: Type.Array(ServiceReportSchema, { maxItems: REPORT_LIMITS.items }),
    removed: Type.Array(Type.String({ minLength: 1, maxLength: REPORT_LIMITS.nameChars }), {
      maxItems: REPORT_LIMITS.items,
    }),
  },
  { additionalProperties: false },
);
export type ServiceChanges = Static<typeof ServiceChangesSchema>;

/**
 * What a device sends once the API holds a report of it: only the fields that changed, each whole, except the
 * service list, which may come as `serviceChanges` instead. Sent with If-Match: the ETag the API gave the report
 * it is based on; the API answers 412 when it holds another one, 409 when it holds none, and the device then sends
 * a full report.
 */
export const PartialStateReportSchema = Type.Composite(
  [Type.Partial(StateReportSchema), Type.Object({ serviceChanges: Type.Optional(ServiceChangesSchema) })],
  { additionalProperties: false },
);

/** `services` with `changes` applied by name: entries replaced in place, new ones at the end, removed ones gone. */
export function applyServiceChanges(services: readonly ServiceReport[], changes: ServiceChanges): ServiceReport[] {
  const removed = new Set(changes.removed);
  const set = new Map(changes.set.map((s) => [s.name, s]));
  const result = services.filter((s) => !removed.has(s.name)).map((s) => set.get(s.name) ?? s);
  const present = new Set(result.map((s) => s.name));
  return [...result, ...changes.set.filter((s) => !present.has(s.name))];
}

/** The changes that turn `before` into `after`, by name (order aside); names must be unique in each. */
export function serviceChangesOf(before: readonly ServiceReport[], after: readonly ServiceReport[]): ServiceChanges {
  const was = new Map(before.map((s) => [s.name, JSON.stringify(s)]));
  const names = new Set(after.map((s) => s.name));
  return {
    set: after.filter((s) => was.get(s.name) !== JSON.stringify(s)),
    removed: before.filter((s) => !names.has(s.name)).map((s) => s.name),
  };
}
export type PartialStateReport = Static<typeof PartialStateReportSchema>;

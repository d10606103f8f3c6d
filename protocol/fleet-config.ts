// How people shape what devices get besides the release: settings (poll interval, update window, bandwidth cap,
// "update now", lock override, metrics interval, monthly data budget) and config vars, each at fleet level and per device, the device's value winning.
// The merged result is the target state's `config` (target-state.ts DeviceConfig).
import { Type, type Static } from '@sinclair/typebox';
import { ServiceNameSchema } from './device-logs.js';
import {
  BandwidthPeriodSchema,
  DeviceConfigSchema,
  METRICS_INTERVAL_LIMITS,
  UpdateWindowSchema,
} from './target-state.js';

/** Environment variable syntax, so every service can read it as one. */
export const ConfigVarNameSchema = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z_][A-Za-z0-9_]*$' });

/** Names Skiff keeps for what it injects itself; a config var may not start with it. */
export const RESERVED_CONFIG_PREFIX = 'SKIFF_';

export const ConfigVarsSchema = Type.Record(Type.String(), Type.String());
export type ConfigVars = Static<typeof ConfigVarsSchema>;

/** Config vars scoped to one service each (balena's service variables), by service name. */
export const ServiceVarsSchema = Type.Record(Type.String(), ConfigVarsSchema);
export type ServiceVars = Static<typeof ServiceVarsSchema>;

/** `?service=NAME` on the config var routes: the vars of that service only; absent: those of every service. */
export const ConfigVarQuerySchema = Type.Object(
  { service: Type.Optional(ServiceNameSchema) },
  { additionalProperties: false },
);
export type ConfigVarQuery = Static<typeof ConfigVarQuerySchema>;

export const SetConfigVarRequestSchema = Type.Object(
  {
    value: Type.String({ maxLength: 65_536 }),
  },
  { additionalProperties: false },
);
export type SetConfigVarRequest = Static<typeof SetConfigVarRequestSchema>;

const settingFields = {
  pollIntervalSeconds: Type.Integer({ minimum: 1, maximum: 86400 }),
  /** Null: no window, updates apply whenever they arrive. */
  updateWindow: Type.Union([UpdateWindowSchema, Type.Null()]),
  /** Null: no cap. */
  bandwidthCapBytesPerSecond: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
  bandwidthSchedule: Type.Array(BandwidthPeriodSchema, { maxItems: 48 }),
  /** Until this instant the update window is ignored; null: no such override. */
  forceUpdateUntil: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  overrideLocks: Type.Boolean(),
  /** How often a device reports its metrics when nothing else changed (a lone report costs a TLS handshake). */
  metricsIntervalSeconds: Type.Integer({
    minimum: METRICS_INTERVAL_LIMITS.minSeconds,
    maximum: METRICS_INTERVAL_LIMITS.maxSeconds,
  }),
  /** Bytes a device may move over its link in a calendar month (UTC); null: no budget. */
  dataBudgetBytesPerMonth: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
};

export const SettingNameSchema = Type.KeyOf(Type.Object(settingFields));
export type SettingName = Static<typeof SettingNameSchema>;

/** Settings set at one level; a field that is absent is inherited (device from fleet, fleet from the defaults). */
export const SettingsSchema = Type.Partial(Type.Object(settingFields), { additionalProperties: false });
export type Settings = Static<typeof SettingsSchema>;

/** A fleet's settings as shown, defaults filled in (its poll interval is a field of the fleet itself). */
export const FleetSettingsSchema = Type.Object({
  updateWindow: settingFields.updateWindow,
  bandwidthCapBytesPerSecond: settingFields.bandwidthCapBytesPerSecond,
  bandwidthSchedule: settingFields.bandwidthSchedule,
  forceUpdateUntil: settingFields.forceUpdateUntil,
  overrideLocks: settingFields.overrideLocks,
  /** Absent: the supervisor's own interval (a day). */
  metricsIntervalSeconds: Type.Optional(settingFields.metricsIntervalSeconds),
  dataBudgetBytesPerMonth: Type.Optional(settingFields.dataBudgetBytesPerMonth),
});
export type FleetSettings = Static<typeof FleetSettingsSchema>;

/** PATCH of a fleet's settings: the fields given replace the fleet's. */
export const FleetSettingsChangeSchema = Type.Partial(Type.Object(settingFields), {
  additionalProperties: false,
  minProperties: 1,
});
export type FleetSettingsChange = Static<typeof FleetSettingsChangeSchema>;

/** PATCH of a device's settings: the fields given override its fleet's; `inherit` drops overrides again. */
export const DeviceSettingsChangeSchema = Type.Object(
  {
    ...Type.Partial(Type.Object(settingFields)).properties,
    inherit: Type.Optional(Type.Array(SettingNameSchema, { uniqueItems: true, minItems: 1 })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type DeviceSettingsChange = Static<typeof DeviceSettingsChangeSchema>;

/** An operator's "update now": windows are ignored for this long from the API's clock. */
export const UpdateNowRequestSchema = Type.Object(
  {
    minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_080 })),
  },
  { additionalProperties: false },
);
export type UpdateNowRequest = Static<typeof UpdateNowRequestSchema>;
export const DEFAULT_UPDATE_NOW_MINUTES = 60;

/** One device's config as people see it: what it sets itself, what its fleet sets, and what it gets. */
export const DeviceConfigViewSchema = Type.Object({
  uuid: Type.String(),
  fleet: Type.String(),
  /** The settings this device overrides. */
  settings: SettingsSchema,
  /** The device's own config vars. */
  vars: ConfigVarsSchema,
  fleetVars: ConfigVarsSchema,
  /** The device's own vars for one service each. */
  serviceVars: Type.Optional(ServiceVarsSchema),
  /** The fleet's vars for one service each. */
  fleetServiceVars: Type.Optional(ServiceVarsSchema),
  /** What the device's target state carries. */
  effective: DeviceConfigSchema,
});
export type DeviceConfigView = Static<typeof DeviceConfigViewSchema>;

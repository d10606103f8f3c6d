// What a device tells the API about itself: what runs, which release, how the update goes, how it feels.
import { Type, type Static } from '@sinclair/typebox';

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

export const ServiceReportSchema = Type.Object({
  name: Type.String({ minLength: 1 }),
  /** The release whose definition this container runs; null for a container of no known release. */
  releaseId: Type.Union([Type.String(), Type.Null()]),
  image: Type.String(),
  containerId: Type.Union([Type.String(), Type.Null()]),
  state: ServiceStateSchema,
  health: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy'), Type.Literal('starting'), Type.Null()]),
  exitCode: Type.Union([Type.Integer(), Type.Null()]),
}, { additionalProperties: false });
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

export const DeviceMetricsSchema = Type.Object({
  cpuPercent: Type.Number(),
  memoryUsedBytes: Type.Integer({ minimum: 0 }),
  memoryTotalBytes: Type.Integer({ minimum: 0 }),
  temperatureCelsius: Type.Union([Type.Number(), Type.Null()]),
  diskUsedBytes: Type.Integer({ minimum: 0 }),
  diskTotalBytes: Type.Integer({ minimum: 0 }),
  uptimeSeconds: Type.Number({ minimum: 0 }),
}, { additionalProperties: false });
export type DeviceMetrics = Static<typeof DeviceMetricsSchema>;

export const StateReportSchema = Type.Object({
  supervisorVersion: Type.String(),
  updateStatus: UpdateStatusSchema,
  /** The release the device was told to run; null if it has no target yet. */
  targetReleaseId: Type.Union([Type.String(), Type.Null()]),
  /** The release every service runs; null while services are of mixed or unknown releases. */
  releaseId: Type.Union([Type.String(), Type.Null()]),
  services: Type.Array(ServiceReportSchema),
  error: Type.Union([Type.String(), Type.Null()]),
  metrics: Type.Optional(DeviceMetricsSchema),
  osVersion: Type.Optional(Type.String()),
  reportedAt: Type.String({ format: 'date-time' }),
}, { additionalProperties: false });
export type StateReport = Static<typeof StateReportSchema>;

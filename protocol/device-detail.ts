// The answer to GET /v1/devices/{uuid} (protocol/http/devices.ts): the device's summary plus the state report it
// sent last, so people see per-service state without a second call.
import { Type, type Static } from '@sinclair/typebox';
import { DeviceSummarySchema } from './api.js';
import { DataUsePeriodSchema, StateReportSchema } from './state-report.js';

export const DeviceDetailSchema = Type.Composite([
  DeviceSummarySchema,
  Type.Object({
    /** The last state report the device sent; null before its first report. */
    lastReport: Type.Union([StateReportSchema, Type.Null()]),
    /** The device's data use as the API recorded it from its reports: the last 31 days and 12 months with any. */
    dataUse: Type.Optional(
      Type.Object({
        days: Type.Array(DataUsePeriodSchema, { maxItems: 31 }),
        months: Type.Array(DataUsePeriodSchema, { maxItems: 12 }),
      }),
    ),
  }),
]);
export type DeviceDetail = Static<typeof DeviceDetailSchema>;

// PATCH /v1/device/{uuid}/state: a full report replaces the stored one; a partial report (only the fields that
// changed, protocol/state-report.ts) is merged into it, but only into the very report it was computed against:
// If-Match names that report's ETag. Otherwise the merge could build a report the device never had (an answer
// lost in transit, a database restored from backup), so the API answers 412 (or 409 when it holds no report) and
// the device sends a full one.
import type Koa from 'koa';
import {
  applyServiceChanges,
  StateReportSchema,
  type PartialStateReport,
  type StateReport,
} from '../../protocol/state-report.js';
import { parse, ValidationError } from '../../protocol/validate.js';
import { etagOf, isFresh } from '../http/etag.js';
import { conflict, ProblemError } from '../http/problem.js';
import { readBody } from '../http/request-body.js';
import { DEVICE_API_ROUTES as ROUTES } from '../../protocol/http/device-api.js';
import type { DeviceStore } from '../store/index.js';

/** The stored report with the partial's fields over it; a field the partial leaves out keeps its stored value. */
export function mergeReport(stored: StateReport, partial: PartialStateReport): StateReport {
  const merged: Record<string, unknown> = { ...stored };
  const { serviceChanges, ...fields } = partial;
  for (const [field, value] of Object.entries(fields)) {
    if (value !== undefined) merged[field] = value;
  }
  if (serviceChanges !== undefined) merged.services = applyServiceChanges(stored.services, serviceChanges);
  return parse(StateReportSchema, merged, 'the merged state report');
}

function isFull(report: PartialStateReport): report is StateReport {
  const required = StateReportSchema.required ?? [];
  return required.every((field) => field in report);
}

/** The report the API held before, and the one it holds now: what fleet events compare (events/report-events.ts). */
export interface ReceivedReport {
  before: StateReport | null;
  report: StateReport;
}

/** Reads, checks and stores the report of device `uuid`; answers 204 with the ETag of the report now stored. */
export async function receiveReport(
  ctx: Koa.Context,
  devices: DeviceStore,
  uuid: string,
  at: string,
): Promise<ReceivedReport> {
  const body = await readBody(ctx, ROUTES.deviceState);
  const base = ctx.get('If-Match') || undefined;
  const stored = (await devices.get(uuid))?.lastReport ?? null;
  let report: StateReport;
  if (base === undefined) {
    if (!isFull(body)) {
      const missing = (StateReportSchema.required ?? []).filter((f) => !(f in body));
      throw conflict(
        `a partial state report (without ${missing.join(', ')}) needs If-Match with the ETag of the report it is based on`,
      );
    }
    report = body;
  } else {
    if (stored === null)
      throw conflict(`the API holds no state report of device '${uuid}' to apply a partial one to: send a full report`);
    if (!isFresh(base, etagOf(stored))) {
      throw new ProblemError(
        412,
        'precondition-failed',
        `the state report of device '${uuid}' the API holds is not the one If-Match names: send a full report`,
      );
    }
    try {
      report = mergeReport(stored, body);
    } catch (err) {
      // A report stored before the field limits of protocol/state-report.ts may exceed them; the full report the
      // device sends on a 409 replaces it.
      if (err instanceof ValidationError)
        throw conflict(`the state report of device '${uuid}' the API holds is no longer valid: send a full report`);
      throw err;
    }
  }
  await devices.saveReport(uuid, report, at);
  ctx.set('ETag', etagOf(report));
  ctx.status = 204;
  return { before: stored, report };
}

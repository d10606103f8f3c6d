// Tells the API what the device runs. The report is built from the engine (what runs), the reconciler (how the
// update goes) and, at most every few minutes, the device's metrics. Only what changed since the report the API
// acknowledged is sent (with If-Match naming that report), at most once per minimum interval, so a flapping
// container cannot flood the API and a metered link carries no repeats. When the API holds another report than
// the device thinks (412), or none (409), the next report is full.
import type {
  AppRollback,
  DeviceMetrics,
  HostOsReport,
  ImageDownload,
  PartialStateReport,
  ServiceReport,
  StateReport,
  UpdateProgress,
  UpdateStatus,
  UpdateWindowReport,
} from '../../protocol/state-report.js';
import { clipReportText } from '../../protocol/state-report.js';
import type { TargetState } from '../../protocol/target-state.js';
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import { ApiError } from './api-client.js';
import { assign } from '../plan/assignment.js';
import { backoffDelay } from '../../lib/backoff.js';
import { canonicalJson } from '../../protocol/canonical-json.js';
import type { CurrentState, ObservedContainer } from '../reconcile/current-state.js';
import { desiredState, imagesOf } from '../plan/desired-state.js';
import { digestRefOf } from '../images/local-image.js';
import type { Thinning } from '../plan/data-budget.js';
import { metricsMoved } from '../device/metrics.js';
import { serviceChangesOf, type TrafficReport } from '../../protocol/state-report.js';
import type { ReconcilePhase, ReconcileStatus } from '../reconcile/reconciler.js';
import { PassLoop } from '../device/wakeup.js';
import type { ServiceHealthFacts } from '../app-health/judgement.js';
import { mostAlive } from '../plan/most-alive.js';

export interface ReportInput {
  current: CurrentState;
  target: TargetState | null;
  status: ReconcileStatus;
  /** Why the last target offered to the device was refused, if it was. */
  targetError: string | null;
  supervisorVersion: string;
  now: Date;
  metrics?: DeviceMetrics;
  /** The device runs a local target (local mode). */
  localMode?: boolean;
  /** Images being delivered now (empty when none: a partial report cannot drop a field). */
  downloads?: ImageDownload[];
  /** The update window as the device judges it now. */
  updateWindow?: UpdateWindowReport;
  /** Host OS and its update (A/B with RAUC); absent on a device without host OS updates. */
  hostOs?: HostOsReport;
  /** Services stopped on purpose through the local API (../reconcile/held-services.ts). */
  held?: ReadonlySet<string>;
  /** The serial the meter this device reads announces (../device/meter-serial.ts); absent: none heard of. */
  meterSerial?: string;
  /** Restarts, restart loop and application health per service (../app-health/watch.ts). */
  serviceHealth?: ReadonlyMap<string, ServiceHealthFacts>;
  /** The release this device rolled back by itself, while its target names it. */
  rollback?: AppRollback;
}

const UPDATE_STATUS: Record<Exclude<ReconcilePhase, 'pending'>, UpdateStatus> = {
  idle: 'converged',
  converged: 'converged',
  downloading: 'downloading',
  applying: 'applying',
  error: 'error',
};

/**
 * The status of a target no reconcile pass has judged yet, from the engine as observed now: converged only if the
 * device already runs the target's release in full (e.g. a change of config alone), downloading while any of its
 * images is missing, applying otherwise. Never the verdict on the target before: that one is no longer the target.
 */
export function pendingUpdateStatus(runsTarget: boolean, imagesMissing: boolean): UpdateStatus {
  if (runsTarget) return 'converged';
  return imagesMissing ? 'downloading' : 'applying';
}

function serviceReport(name: string, container: ObservedContainer, releaseId: string | null): ServiceReport {
  return {
    name,
    releaseId,
    // The release's digest reference, also for an image Skiff loaded itself under its local tag.
    image: digestRefOf(container.image),
    containerId: container.id,
    state: container.state,
    health: container.health,
    exitCode: container.exitCode,
  };
}

export function buildReport(input: ReportInput): StateReport {
  const { current, target, status } = input;
  const desired = target === null ? null : desiredState(target);
  const wanted = desired?.containers ?? [];
  const { kept, retired } = assign(current.containers, wanted);
  const services: ServiceReport[] = [];
  for (const d of wanted) {
    const up = kept.get(d.service);
    if (up !== undefined) {
      // Up to date means it runs the target's definition, whichever release happened to create it.
      services.push(serviceReport(d.service, up, desired?.releaseId ?? null));
      continue;
    }
    const old = mostAlive(retired.filter((c) => c.service === d.service));
    services.push(
      old !== undefined
        ? serviceReport(d.service, old, old.releaseId)
        : {
            name: d.service,
            releaseId: null,
            image: d.image,
            containerId: null,
            state: 'missing',
            health: null,
            exitCode: null,
          },
    );
  }
  const targetServices = new Set(wanted.map((d) => d.service));
  for (const c of retired.filter((r) => r.service === null || !targetServices.has(r.service))) {
    services.push(serviceReport(c.service ?? c.name, c, c.releaseId));
  }

  let releaseId: string | null = null;
  let complete = false;
  if (desired !== null) {
    complete = wanted.every((d) => kept.has(d.service)) && retired.length === 0;
    releaseId = complete ? desired.releaseId : null;
  } else {
    const releases = new Set(current.containers.map((c) => c.releaseId));
    const [only] = releases;
    releaseId = releases.size === 1 && only !== undefined ? only : null;
  }

  const progress = target === null ? undefined : progressOf(target, current);
  const phaseStatus =
    status.phase === 'pending'
      ? pendingUpdateStatus(complete, progress !== undefined && progress.imagesPresent < progress.imagesTotal)
      : UPDATE_STATUS[status.phase];
  return {
    supervisorVersion: input.supervisorVersion,
    // A refused target is a failed update too: the device is not running what it was told to.
    updateStatus: input.targetError !== null && status.error === null ? 'error' : phaseStatus,
    targetReleaseId: target?.release?.id ?? null,
    releaseId,
    // A service whose update lock holds the update back says so (locked: true).
    services: services
      .map((s) => (status.locked?.includes(s.name) === true ? { ...s, locked: true } : s))
      .map((s) => (input.held?.has(s.name) === true ? { ...s, held: true } : s))
      .map((s) => withHealth(s, input.serviceHealth?.get(s.name))),
    error: clipped(status.error ?? input.targetError),
    ...(progress === undefined ? {} : { progress }),
    ...(input.metrics === undefined ? {} : { metrics: input.metrics }),
    ...(input.localMode === true ? { localMode: true } : {}),
    ...(input.downloads === undefined ? {} : { downloads: input.downloads }),
    ...(input.updateWindow === undefined ? {} : { updateWindow: input.updateWindow }),
    ...(input.meterSerial === undefined ? {} : { meterSerial: input.meterSerial }),
    ...(status.deferred === undefined
      ? {}
      : {
          deferred: {
            reason: 'data-budget' as const,
            message: clipped(status.deferred.message) ?? '',
            until: status.deferred.until,
          },
        }),
    // Compared with the acknowledged report like the rest, so an OS update's progress alone is reported too.
    ...(input.hostOs === undefined ? {} : { hostOs: { ...input.hostOs, lastError: clipped(input.hostOs.lastError) } }),
    ...(input.rollback === undefined ? {} : { rollback: input.rollback }),
    reportedAt: input.now.toISOString(),
  };
}

/** Restarts and application health belong to the service's container of the target, not to an old one. */
function withHealth(s: ServiceReport, facts: ServiceHealthFacts | undefined): ServiceReport {
  if (facts === undefined || s.containerId === null || s.containerId !== facts.containerId) return s;
  return {
    ...s,
    restarts: facts.restarts,
    ...(facts.restartLoop ? { restartLoop: true } : {}),
    ...(facts.appHealth === undefined ? {} : { appHealth: facts.appHealth }),
  };
}

function clipped(text: string | null): string | null {
  return text === null ? null : clipReportText(text);
}

function progressOf(target: TargetState, current: CurrentState): UpdateProgress {
  const wanted = new Set(imagesOf(target));
  return { imagesPresent: current.images.filter((i) => wanted.has(i)).length, imagesTotal: wanted.size };
}

function sameField(field: string, a: unknown, b: unknown): boolean {
  if (field === 'metrics' && a !== undefined && b !== undefined)
    return !metricsMoved(a as DeviceMetrics, b as DeviceMetrics);
  return canonicalJson(a) === canonicalJson(b);
}

/**
 * The fields of `after` that differ from `before` (metrics by their buckets), without reportedAt; null when
 * `after` drops a field `before` had: a partial report cannot remove one, so a full report is due.
 */
export function reportChanges(before: StateReport, after: StateReport): PartialStateReport | null {
  const changes: Record<string, unknown> = {};
  const was: Record<string, unknown> = { ...before };
  const now: Record<string, unknown> = { ...after };
  if (Object.keys(was).some((field) => now[field] === undefined)) return null;
  for (const [field, value] of Object.entries(now)) {
    if (field !== 'reportedAt' && !sameField(field, was[field], value)) changes[field] = value;
  }
  return changes as PartialStateReport;
}

export interface ReporterOptions {
  observe: () => Promise<CurrentState>;
  /** What the reconciler and poller know right now. */
  situation: () => Pick<
    ReportInput,
    'target' | 'status' | 'targetError' | 'localMode' | 'downloads' | 'updateWindow' | 'hostOs'
  >;
  /** Sends a full report, or a partial one based on the report with ETag `basedOn`; resolves to the new ETag. */
  send: (report: StateReport | PartialStateReport, basedOn: string | null) => Promise<string | null>;
  log: Logger;
  supervisorVersion: string;
  /** Samples the device's metrics (../device/metrics.ts); without it reports carry none. */
  metrics?: () => Promise<DeviceMetrics>;
  /** Metrics are sampled at most this often. */
  metricsIntervalMs?: number;
  /**
   * A change of metrics alone is reported at most this often; it rides on any report sent sooner for another
   * reason. By default metricsIntervalMs when that is given, else METRICS_REPORT_INTERVAL_MS.
   */
  metricsReportIntervalMs?: number;
  /**
   * The fleet's metrics interval (the target's config.metricsIntervalSeconds, in ms), asked at each look; when it
   * gives one it replaces metricsReportIntervalMs, and metrics are sampled at least that often.
   */
  fleetMetricsIntervalMs?: () => number | undefined;
  /**
   * How close the month's data budget is to spent (../plan/data-budget.ts): 'thin' reports metrics alone a quarter
   * as often, 'essential' not at all (they still ride on reports sent for other reasons).
   */
  thinning?: () => Thinning;
  /** At most one report per this interval. */
  minIntervalMs?: number;
  /** Without a trigger, the engine is looked at this often (containers change on their own). */
  checkIntervalMs?: number;
  /**
   * The device's data use this month (../device/traffic.ts). It changes with every request, reports included, so
   * it never makes a report by itself: it rides on reports sent for other reasons, and is sent alone at most once
   * per trafficIntervalMs.
   */
  traffic?: () => TrafficReport;
  /** How often the data use is reported when nothing else is (a day by default). */
  trafficIntervalMs?: number;
}

/**
 * An idle device's metrics alone go out once a day: a lone report over a metered link costs a TCP and TLS handshake,
 * some 3 kB, so every 5 minutes would be about 26 MB a month, hourly 2.4 MB, daily 0.1 MB.
 */
export const METRICS_REPORT_INTERVAL_MS = 24 * 60 * 60 * 1000;

/** Data use is news for a budget, not for a dashboard: once a day when nothing else is sent. */
export const TRAFFIC_REPORT_INTERVAL_MS = 24 * 60 * 60 * 1000;

/** The last report the API acknowledged, and the ETag it gave it (null from an API that gives none). */
interface Acknowledged {
  report: StateReport;
  etag: string | null;
}

export class Reporter {
  private readonly passes = new PassLoop(() => this.reportOnce());
  private acked: Acknowledged | null = null;
  private lastSentAt = 0;
  private failures = 0;
  private metrics: DeviceMetrics | undefined;
  private metricsAt = Number.NEGATIVE_INFINITY;
  private readonly minIntervalMs: number;
  private readonly checkIntervalMs: number;
  private readonly metricsIntervalMs: number;
  private trafficSentAt = Number.NEGATIVE_INFINITY;
  private metricsSentAt = Number.NEGATIVE_INFINITY;
  private readonly metricsReportIntervalMs: number;

  constructor(private readonly options: ReporterOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 10_000;
    this.checkIntervalMs = options.checkIntervalMs ?? 30_000;
    this.metricsIntervalMs = options.metricsIntervalMs ?? 300_000;
    this.metricsReportIntervalMs =
      options.metricsReportIntervalMs ?? options.metricsIntervalMs ?? METRICS_REPORT_INTERVAL_MS;
  }

  /** Something changed: look again now (the rate limit still applies). */
  trigger(): void {
    this.passes.wake();
  }

  /** Sends the daily fields (metrics, data use) with the next report, due or not; their day starts again from it. */
  sendDaily(): void {
    this.trafficSentAt = Number.NEGATIVE_INFINITY;
    this.metricsSentAt = Number.NEGATIVE_INFINITY;
    this.passes.wake();
  }

  /** The next report is full (e.g. the API may have lost what it had). */
  resend(): void {
    this.acked = null;
    this.passes.wake();
  }

  start(): void {
    this.passes.start();
  }

  stop(): Promise<void> {
    return this.passes.stop();
  }

  /** How often metrics alone are reported: the fleet's interval when its target sets one. */
  private metricsReportEveryMs(): number {
    const every = this.options.fleetMetricsIntervalMs?.() ?? this.metricsReportIntervalMs;
    const thinning = this.options.thinning?.() ?? 'normal';
    return thinning === 'essential' ? Number.POSITIVE_INFINITY : thinning === 'thin' ? every * 4 : every;
  }

  /** How often metrics are sampled: no less often than they are to be reported. */
  private sampleEveryMs(): number {
    const fleet = this.options.fleetMetricsIntervalMs?.();
    return fleet === undefined ? this.metricsIntervalMs : Math.min(this.metricsIntervalMs, fleet);
  }

  private async sampleMetrics(): Promise<void> {
    const sample = this.options.metrics;
    if (sample === undefined || Date.now() - this.metricsAt < this.sampleEveryMs()) return;
    this.metricsAt = Date.now();
    try {
      this.metrics = await sample();
    } catch (err) {
      // Reports matter more than metrics: go on with the last sample.
      this.options.log.warn({ err: messageOf(err) }, 'metrics sample failed');
    }
  }

  /** Sends what changed if the rate limit allows; returns the delay before the next look. */
  async reportOnce(): Promise<number> {
    const { log } = this.options;
    try {
      await this.sampleMetrics();
      const report = buildReport({
        ...this.options.situation(),
        current: await this.options.observe(),
        supervisorVersion: this.options.supervisorVersion,
        now: new Date(),
        ...(this.metrics === undefined ? {} : { metrics: this.metrics }),
      });
      const acked = this.acked;
      let changes = acked === null ? null : reportChanges(acked.report, report);
      // Metrics alone wait for their interval: kept out of this report, they are measured from the last sent.
      if (
        changes !== null &&
        Object.keys(changes).length === 1 &&
        changes.metrics !== undefined &&
        Date.now() - this.metricsSentAt < this.metricsReportEveryMs()
      )
        changes = {};
      // One service's change is that service's entry, not the list again (names must say which entry is which:
      // during a hand-over two containers of one service are reported).
      if (acked !== null && changes?.services !== undefined) {
        const unique = (list: readonly { name: string }[]) => new Set(list.map((s) => s.name)).size === list.length;
        if (unique(acked.report.services) && unique(report.services)) {
          const serviceChanges = serviceChangesOf(acked.report.services, report.services);
          if (JSON.stringify(serviceChanges).length < JSON.stringify(changes.services).length) {
            const { services: _whole, ...rest } = changes;
            changes = { ...rest, serviceChanges };
          }
        }
      }
      const trafficDue =
        Date.now() - this.trafficSentAt >= (this.options.trafficIntervalMs ?? TRAFFIC_REPORT_INTERVAL_MS);
      if (changes !== null && Object.keys(changes).length === 0 && !(trafficDue && this.options.traffic !== undefined))
        return this.untilNextLook(report);
      const wait = this.lastSentAt + this.minIntervalMs - Date.now();
      // Too soon: come back when allowed and build it afresh then (it may have changed again).
      if (wait > 0) return wait;
      const partial = acked !== null && acked.etag !== null && changes !== null;
      // Kept out of the acknowledged report: it is never compared, only carried.
      const traffic = this.options.traffic?.();
      const carried = traffic === undefined ? {} : { traffic };
      const etag = partial
        ? await this.options.send({ ...changes, ...carried, reportedAt: report.reportedAt }, acked.etag)
        : await this.options.send({ ...report, ...carried }, null);
      if (traffic !== undefined) this.trafficSentAt = Date.now();
      if (!partial || changes?.metrics !== undefined) this.metricsSentAt = Date.now();
      // What was not sent (metrics within their bucket) stays as acknowledged, so drift is measured from there.
      // The device's own view of what the API now holds: the services as observed, however they were sent.
      const { serviceChanges: _sent, ...fields } = changes ?? {};
      this.acked = {
        report: partial
          ? { ...acked.report, ...fields, services: report.services, reportedAt: report.reportedAt }
          : report,
        etag,
      };
      this.lastSentAt = Date.now();
      this.failures = 0;
      log.info(
        {
          updateStatus: report.updateStatus,
          releaseId: report.releaseId,
          fields: partial ? Object.keys(changes ?? {}) : 'all',
        },
        'state reported',
      );
      return this.untilNextLook(report);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 409 || err.status === 412) && this.acked !== null) {
        log.info({ status: err.status, detail: err.detail }, 'the API holds another report: sending a full one');
        this.acked = null;
        return 0;
      }
      this.failures++;
      const delay = backoffDelay(this.failures, { initialMs: this.minIntervalMs, maxMs: 300_000 });
      log.warn({ err: messageOf(err), attempt: this.failures, retryInMs: delay }, 'state report failed');
      return delay;
    }
  }

  /**
   * While images download, their progress is news: look again as soon as a report may go. That holds from the
   * moment the update is downloading, before the first byte lists a download: with metrics reported rarely, the
   * next look would otherwise wait for the check interval and miss a short download's progress entirely.
   */
  private untilNextLook(report: StateReport): number {
    const next = this.untilNextMetrics();
    const downloading = (report.downloads?.length ?? 0) > 0 || report.updateStatus === 'downloading';
    return downloading ? Math.min(next, this.minIntervalMs) : next;
  }

  private untilNextMetrics(): number {
    if (this.options.metrics === undefined) return this.checkIntervalMs;
    return Math.max(0, Math.min(this.checkIntervalMs, this.metricsAt + this.sampleEveryMs() - Date.now()));
  }
}

// Tells the API what the device runs. The report is built from the engine (what runs) and the reconciler (how the
// update goes); it is sent only when it changed, and at most once per minimum interval, so a flapping container
// cannot flood the API.
import type { ServiceReport, StateReport, UpdateStatus } from '../protocol/state-report.js';
import type { TargetState } from '../protocol/target-state.js';
import type { Logger } from '../lib/logger.js';
import { messageOf } from '../lib/errors.js';
import { assign } from './assignment.js';
import { backoffDelay } from './backoff.js';
import { canonicalJson } from '../protocol/canonical-json.js';
import type { CurrentState, ObservedContainer } from './current-state.js';
import { desiredState } from './desired-state.js';
import type { ReconcilePhase, ReconcileStatus } from './reconciler.js';
import { Wakeup } from './wakeup.js';

export interface ReportInput {
  current: CurrentState;
  target: TargetState | null;
  status: ReconcileStatus;
  /** Why the last target offered to the device was refused, if it was. */
  targetError: string | null;
  supervisorVersion: string;
  now: Date;
}

const UPDATE_STATUS: Record<ReconcilePhase, UpdateStatus> = {
  idle: 'converged',
  converged: 'converged',
  downloading: 'downloading',
  applying: 'applying',
  error: 'error',
};

function serviceReport(name: string, container: ObservedContainer, releaseId: string | null): ServiceReport {
  return {
    name,
    releaseId,
    image: container.image,
    containerId: container.id,
    state: container.state,
    health: container.health,
    exitCode: container.exitCode,
  };
}

/** The container that best shows how a service is doing: running before stopped, newest first. */
function mostAlive(containers: ObservedContainer[]): ObservedContainer | undefined {
  return [...containers].sort((a, b) =>
    Number(b.state === 'running') - Number(a.state === 'running') || b.createdAt.localeCompare(a.createdAt))[0];
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
    services.push(old !== undefined
      ? serviceReport(d.service, old, old.releaseId)
      : { name: d.service, releaseId: null, image: d.image, containerId: null, state: 'missing', health: null, exitCode: null });
  }
  const targetServices = new Set(wanted.map((d) => d.service));
  for (const c of retired.filter((r) => r.service === null || !targetServices.has(r.service))) {
    services.push(serviceReport(c.service ?? c.name, c, c.releaseId));
  }

  let releaseId: string | null = null;
  if (desired !== null) {
    const complete = wanted.every((d) => kept.has(d.service)) && retired.length === 0;
    releaseId = complete ? desired.releaseId : null;
  } else {
    const releases = new Set(current.containers.map((c) => c.releaseId));
    const [only] = releases;
    releaseId = releases.size === 1 && only !== undefined ? only : null;
  }

  return {
    supervisorVersion: input.supervisorVersion,
    // A refused target is a failed update too: the device is not running what it was told to.
    updateStatus: input.targetError !== null && status.error === null ? 'error' : UPDATE_STATUS[status.phase],
    targetReleaseId: target?.release?.id ?? null,
    releaseId,
    services,
    error: status.error ?? input.targetError,
    reportedAt: input.now.toISOString(),
  };
}

export interface ReporterOptions {
  observe: () => Promise<CurrentState>;
  /** What the reconciler and poller know right now. */
  situation: () => Pick<ReportInput, 'target' | 'status' | 'targetError'>;
  send: (report: StateReport) => Promise<void>;
  log: Logger;
  supervisorVersion: string;
  /** At most one report per this interval. */
  minIntervalMs?: number;
  /** Without a trigger, the engine is looked at this often (containers change on their own). */
  checkIntervalMs?: number;
}

export class Reporter {
  private readonly wakeup = new Wakeup();
  private lastSent: string | null = null;
  private lastSentAt = 0;
  private failures = 0;
  private stopped = false;
  private running: Promise<void> | undefined;
  private readonly minIntervalMs: number;
  private readonly checkIntervalMs: number;

  constructor(private readonly options: ReporterOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 10_000;
    this.checkIntervalMs = options.checkIntervalMs ?? 30_000;
  }

  /** Something changed: look again now (the rate limit still applies). */
  trigger(): void {
    this.wakeup.wake();
  }

  start(): void {
    if (this.running !== undefined) return;
    this.stopped = false;
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeup.wake();
    await this.running;
    this.running = undefined;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const delay = await this.reportOnce();
      if (this.stopped) break;
      await this.wakeup.wait(delay);
    }
  }

  /** Sends the report if it changed and the rate limit allows; returns the delay before the next look. */
  async reportOnce(): Promise<number> {
    const { log } = this.options;
    try {
      const report = buildReport({
        ...this.options.situation(),
        current: await this.options.observe(),
        supervisorVersion: this.options.supervisorVersion,
        now: new Date(),
      });
      const key = canonicalJson({ ...report, reportedAt: undefined });
      if (key === this.lastSent) return this.checkIntervalMs;
      const wait = this.lastSentAt + this.minIntervalMs - Date.now();
      // Too soon: come back when allowed and build it afresh then (it may have changed again).
      if (wait > 0) return wait;
      await this.options.send(report);
      this.lastSent = key;
      this.lastSentAt = Date.now();
      this.failures = 0;
      log.info({ updateStatus: report.updateStatus, releaseId: report.releaseId, services: report.services.length }, 'state reported');
      return this.checkIntervalMs;
    } catch (err) {
      this.failures++;
      const delay = backoffDelay(this.failures, { initialMs: this.minIntervalMs, maxMs: 300_000 });
      log.warn({ err: messageOf(err), attempt: this.failures, retryInMs: delay }, 'state report failed');
      return delay;
    }
  }
}

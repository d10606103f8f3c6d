// The device's application health and its own rollback, the I/O side: reads the engine and the services' health
// reports, asks judgement.ts for a verdict and state-machine.ts for the next record, persists every record before
// acting on it (app-release.json), and keeps the last good release's signed target (app-last-good.json) so that a
// rollback needs no network. The supervisor runs effective(fleet target): the target itself, or, while its release
// is given up on, the last good release's services under the target's current config.
import path from 'node:path';
import type { AppRollback } from '../../protocol/state-report.js';
import { clipReportText } from '../../protocol/state-report.js';
import type { ServiceHealthRequest } from '../../protocol/local-api.js';
import type { TargetState } from '../../protocol/target-state.js';
import { canonicalJson } from '../../protocol/canonical-json.js';
import { parse } from '../../protocol/validate.js';
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import { writeFileAtomic } from '../device/atomic-file.js';
import { readStateFile } from '../device/state-file.js';
import { PassLoop } from '../device/wakeup.js';
import { readContainers } from '../reconcile/current-state.js';
import type { Engine } from '../engine/engine.js';
import { assign } from '../plan/assignment.js';
import { desiredState } from '../plan/desired-state.js';
import { lockDir } from '../plan/lock-paths.js';
import type { ObservedContainer } from '../plan/observed.js';
import type { SignedTarget, TargetKey } from '../target/gate.js';
import type { ReleaseTrust } from '../target/release-signature.js';
import { TargetStore } from '../target/store.js';
import { declarationOf, watchDeadlineSeconds } from './declaration.js';
import { readHealthFile, reportedOf } from './health-file.js';
import {
  appHealthOf,
  isRestartLoop,
  judgeRelease,
  RESTART_LOOP_WINDOW_MS,
  type ReportedHealth,
  type RestartSample,
  type ServiceHealthFacts,
  type ServiceObservation,
} from './judgement.js';
import {
  AppReleaseRecordSchema,
  effectiveTarget,
  next,
  type AppReleaseEvent,
  type AppReleaseRecord,
} from './state-machine.js';

export const APP_RELEASE_FILE = 'app-release.json';
export const LAST_GOOD_FILE = 'app-last-good.json';
/** Restart counts add up in the engine, so a loop is seen at any pace; this bounds how late a verdict comes. */
export const DEFAULT_WATCH_INTERVAL_MS = 15_000;
/**
 * A supervisor that starts again (a power cut, an update of itself) gives the services this long, or the
 * release's whole deadline if shorter, before a deadline that passed while it was down can fail the release:
 * containers the engine is still starting are not a verdict.
 */
export const STARTUP_GRACE_MS = 60_000;
/** Restart samples kept per container: enough for the loop window at the watch's pace, bounded whatever happens. */
const MAX_SAMPLES = 64;

export interface AppReleaseWatchOptions {
  dataDir: string;
  deviceUuid: string;
  engine: Engine;
  /** The API keys and release keys a kept target is checked with when loaded again. */
  keys: TargetKey;
  releaseTrust: () => ReleaseTrust | null;
  log: Logger;
  intervalMs?: number;
  clock?: () => Date;
  /** Whether the reconciler converged to the target it was last given. */
  converged: () => boolean;
  /** Whether the reconciler applies (or converged to) the target it was last given: not waiting to download. */
  applying: () => boolean;
  /** What the device should run changed (a rollback began): the supervisor runs effective() again. */
  onRun: () => void;
  /** Something the report shows changed. */
  onChange: () => void;
}

export class AppReleaseWatch {
  private record: AppReleaseRecord | null = null;
  private lastGood: SignedTarget | null = null;
  private fleet: SignedTarget | null = null;
  private paused = false;
  private readonly reported = new Map<string, ReportedHealth>();
  /** The last refusal of each service's health file, logged once rather than at every pass. */
  private readonly fileErrors = new Map<string, string>();
  private readonly restarts = new Map<string, { createdAtMs: number; samples: RestartSample[] }>();
  private facts = new Map<string, ServiceHealthFacts>();
  private readonly passes = new PassLoop(() => this.pass());
  private readonly recordFile: string;
  private readonly lastGoodStore: TargetStore;
  private readonly clock: () => Date;
  /** When this supervisor began judging (see STARTUP_GRACE_MS). */
  private readonly judgingSince: number;

  constructor(private readonly options: AppReleaseWatchOptions) {
    this.recordFile = path.join(options.dataDir, APP_RELEASE_FILE);
    this.lastGoodStore = new TargetStore(options.dataDir, options.deviceUuid, LAST_GOOD_FILE);
    this.clock = options.clock ?? (() => new Date());
    this.judgingSince = this.clock().getTime();
  }

  /** The persisted record and last good release; a damaged file is logged and counts as none. */
  async load(): Promise<void> {
    const { log } = this.options;
    try {
      const value = await readStateFile(this.recordFile, 'application release record');
      this.record =
        value === null ? null : parse(AppReleaseRecordSchema, value, `application release record ${this.recordFile}`);
    } catch (err) {
      log.error({ err: messageOf(err) }, 'application release record refused; watching afresh');
    }
    try {
      this.lastGood = await this.lastGoodStore.load(this.options.keys, this.options.releaseTrust());
    } catch (err) {
      log.error({ err: messageOf(err) }, 'last good release refused; a failing release has nothing to go back to');
    }
    if (this.record !== null) {
      log.info(
        {
          state: this.record.state,
          release: this.record.releaseId,
          lastGood: this.lastGood?.target.release?.id ?? null,
        },
        'application release record loaded',
      );
    }
  }

  start(): void {
    this.passes.start();
  }

  stop(): Promise<void> {
    return this.passes.stop();
  }

  /**
   * In local mode the developer's target runs: nothing is judged or rolled back, and a fleet release that arrives
   * meanwhile is watched from when local mode ends (its deadline would otherwise run out unapplied).
   */
  async setPaused(paused: boolean): Promise<void> {
    this.paused = paused;
    if (!paused && this.fleet !== null) await this.follow(this.fleet);
  }

  /**
   * The fleet's target, accepted and persisted: a release it names for the first time is watched from now. Never
   * throws: a record that cannot be written is logged, and the target runs all the same.
   */
  async follow(signed: SignedTarget): Promise<void> {
    this.fleet = signed;
    const release = signed.target.release;
    if (release === null || this.paused) return;
    try {
      await this.apply({ kind: 'target', releaseId: release.id, deadlineSeconds: watchDeadlineSeconds(signed.target) });
    } catch (err) {
      this.options.log.error({ err: messageOf(err), release: release.id }, 'new release not watched');
    }
    // No pass now: its engine reads would compete with the update's first steps; the next one comes soon enough.
  }

  /** What the device runs for the fleet's `target`: it, or the last good release while its own is given up on. */
  effective(target: TargetState): TargetState {
    return effectiveTarget(target, this.record, this.lastGood?.target ?? null);
  }

  /** A service's own health through the local API; false when the device runs no such service. */
  report(service: string, request: ServiceHealthRequest): boolean {
    const target = this.running();
    if (target === null || !target.services.some((s) => s.name === service)) return false;
    // Judged at the next pass, not now: a service reporting in a tight loop must not drive the engine reads.
    this.reported.set(service, reportedOf(request, this.clock()));
    return true;
  }

  /** Restarts, restart loop and application health of each service, for the state report. */
  serviceFacts(): ReadonlyMap<string, ServiceHealthFacts> {
    return this.facts;
  }

  /** The rollback to report: while the fleet's target still names the release given up on. */
  rollback(): AppRollback | undefined {
    const r = this.record;
    if (r === null || (r.state !== 'rolling-back' && r.state !== 'rolled-back') || r.at === null) return undefined;
    if (this.fleet?.target.release?.id !== r.releaseId) return undefined;
    return { fromReleaseId: r.releaseId, toReleaseId: r.toReleaseId, reason: clipReportText(r.reason ?? ''), at: r.at };
  }

  private running(): TargetState | null {
    return this.fleet === null ? null : this.effective(this.fleet.target);
  }

  /** Persists the record an event leads to, before anyone acts on it. */
  private async apply(event: AppReleaseEvent): Promise<AppReleaseRecord | null> {
    const before = this.record;
    const after = next(before, event, this.clock());
    if (after === before || after === null) return before;
    await writeFileAtomic(this.recordFile, `${JSON.stringify(after, null, 2)}\n`);
    this.record = after;
    const { log } = this.options;
    const fields = { release: after.releaseId, state: after.state };
    if (after.state === 'rolling-back') {
      log.warn(
        { ...fields, to: after.toReleaseId, reason: after.reason },
        'release failed on this device: rolling back',
      );
    } else if (after.state === 'watching' && after.deadlineAt !== null) {
      log.info({ ...fields, deadlineAt: after.deadlineAt }, 'watching the new release until its deadline');
    } else if (after.state === 'watching') {
      log.info(
        { ...fields, deadlineSeconds: after.deadlineSeconds },
        'new release: its deadline runs once it is applied',
      );
    } else {
      log.info(fields, after.state === 'kept' ? 'release kept' : 'rollback done');
    }
    this.options.onChange();
    return after;
  }

  private async pass(): Promise<number> {
    const interval = this.options.intervalMs ?? DEFAULT_WATCH_INTERVAL_MS;
    try {
      await this.judge();
    } catch (err) {
      this.options.log.error({ err: messageOf(err) }, 'application health not judged this time');
    }
    return interval;
  }

  private async judge(): Promise<void> {
    const target = this.running();
    if (this.paused || target === null || this.fleet === null) return;
    const now = this.clock();
    const containers = await readContainers(this.options.engine);
    const { kept } = assign(containers, desiredState(target).containers);
    this.sampleRestarts(containers, now.getTime());
    await this.readHealthFiles(target);
    const observations: ServiceObservation[] = target.services.map((spec) => {
      const container = kept.get(spec.name);
      const declaration = declarationOf(spec);
      return {
        name: spec.name,
        state: container?.state ?? null,
        engineHealth: container?.health ?? null,
        restartLoop: container === undefined ? false : this.loops(container, now.getTime()),
        declaration,
        appHealth: appHealthOf(container === undefined ? null : this.reportedSince(spec.name, container), declaration),
      };
    });
    this.publish(observations, kept);

    const record = this.record;
    if (record?.state === 'watching' && record.releaseId === target.release?.id) {
      if (record.deadlineAt === null) {
        if (!this.options.applying()) return;
        await this.apply({ kind: 'applying' });
        return;
      }
      const good = this.lastGood?.target.release?.id ?? null;
      const verdict = judgeRelease(observations);
      if (verdict.kind === 'not-yet' && this.inStartupGrace(record, now)) return;
      const after = await this.apply({
        kind: 'verdict',
        verdict,
        goodReleaseId: good === record.releaseId ? null : good,
      });
      if (after?.state === 'rolling-back') this.options.onRun();
      return;
    }
    if (!this.options.converged()) return;
    if (record?.state === 'rolling-back') {
      await this.apply({ kind: 'converged' });
      return;
    }
    if (record?.state === 'kept' && record.releaseId === target.release?.id) {
      if (
        this.lastGood?.target.release?.id === record.releaseId &&
        canonicalJson(this.lastGood) === canonicalJson(this.fleet)
      )
        return;
      await this.lastGoodStore.save(this.fleet);
      this.lastGood = this.fleet;
      this.options.log.info({ release: record.releaseId }, 'last good release saved');
    }
  }

  private publish(observations: ServiceObservation[], kept: ReadonlyMap<string, ObservedContainer>): void {
    const facts = new Map<string, ServiceHealthFacts>();
    for (const o of observations) {
      facts.set(o.name, {
        containerId: kept.get(o.name)?.id ?? null,
        restarts: kept.get(o.name)?.restartCount ?? 0,
        restartLoop: o.restartLoop,
        ...(o.appHealth === undefined ? {} : { appHealth: o.appHealth }),
      });
    }
    if (canonicalJson([...facts]) === canonicalJson([...this.facts])) return;
    this.facts = facts;
    this.options.onChange();
  }

  private inStartupGrace(record: AppReleaseRecord, now: Date): boolean {
    const deadlineMs = (record.deadlineSeconds ?? 0) * 1000;
    return now.getTime() < this.judgingSince + Math.min(STARTUP_GRACE_MS, deadlineMs);
  }

  /** What the service reported since its container was created: an older container's word is not this one's. */
  private reportedSince(service: string, container: ObservedContainer): ReportedHealth | null {
    const reported = this.reported.get(service);
    if (reported === undefined) return null;
    const created = Date.parse(container.createdAt);
    return Number.isNaN(created) || Date.parse(reported.reportedAt) >= created ? reported : null;
  }

  private sampleRestarts(containers: readonly ObservedContainer[], nowMs: number): void {
    const present = new Set(containers.map((c) => c.id));
    for (const id of this.restarts.keys()) if (!present.has(id)) this.restarts.delete(id);
    for (const c of containers) {
      if (c.restartCount === undefined) continue;
      const entry = this.restarts.get(c.id) ?? { createdAtMs: Date.parse(c.createdAt), samples: [] };
      const last = entry.samples.at(-1);
      if (last === undefined || last.count !== c.restartCount)
        entry.samples.push({ atMs: nowMs, count: c.restartCount });
      // The newest sample before the window stays: it is the baseline of a container older than the window.
      const since = nowMs - RESTART_LOOP_WINDOW_MS;
      while (
        entry.samples.length > MAX_SAMPLES ||
        ((entry.samples[1]?.atMs ?? nowMs) < since && entry.samples.length > 1)
      )
        entry.samples.shift();
      this.restarts.set(c.id, entry);
    }
  }

  private loops(container: ObservedContainer, nowMs: number): boolean {
    const entry = this.restarts.get(container.id);
    return entry !== undefined && isRestartLoop(entry.createdAtMs, entry.samples, nowMs);
  }

  /** Health files newer than what the service said through the local API win. */
  private async readHealthFiles(target: TargetState): Promise<void> {
    const root = path.join(this.options.dataDir, 'locks');
    const names = new Set(target.services.map((s) => s.name));
    for (const name of [...this.reported.keys(), ...this.fileErrors.keys()]) {
      if (!names.has(name)) {
        this.reported.delete(name);
        this.fileErrors.delete(name);
      }
    }
    for (const spec of target.services) {
      const read = await readHealthFile(lockDir(root, spec.name));
      if (read === null) continue;
      if ('error' in read) {
        if (this.fileErrors.get(spec.name) !== read.error)
          this.options.log.warn({ service: spec.name, err: read.error }, 'health file refused');
        this.fileErrors.set(spec.name, read.error);
        continue;
      }
      this.fileErrors.delete(spec.name);
      const known = this.reported.get(spec.name);
      if (known === undefined || Date.parse(known.reportedAt) < Date.parse(read.health.reportedAt))
        this.reported.set(spec.name, read.health);
    }
  }
}

// What can be done with rollouts: start one (which devices, in which phase, what each had before), advance one
// (the driver's level-triggered step: assign what the rate allows, judge the phase, pass, halt or complete), an
// operator's pause, resume and abort, and a fleet's emergency stop. Each decision is committed as one step of the
// state machine (state-machine.ts) with its numbers in the audit log, then published as a fleet event.
import { createHash, randomBytes } from 'node:crypto';
import { parseSelector, selects, SelectorError, type DeviceSelector } from '../../protocol/device-selector.js';
import type { FleetEventKind } from '../../protocol/fleet-events.js';
import type { CreateRolloutRequest, PhaseSpec, Rollout, RolloutPhase } from '../../protocol/rollouts.js';
import { approvalAllowsDevices } from '../../protocol/release-review.js';
import type { Logger } from '../../lib/logger.js';
import type { FleetEventBus } from '../events/bus.js';
import { badRequest, conflict, notFound } from '../http/problem.js';
import type { FleetRecord, Stamp, Store } from '../store/index.js';
import { withFleetGroups } from '../devices/attributes.js';
import { fleetDevicesOf } from './fleet-devices.js';
import { allowance, judgePhase, phaseSizes, tallyPhase, type PhaseTally } from './judgement.js';
import { refusalOf, step, type MachineState, type RolloutEvent } from './state-machine.js';
import type { PhaseRecord, RolloutRecord, RolloutStep } from './store.js';

export interface RolloutDeps {
  store: Pick<Store, 'rollouts' | 'releases' | 'devices' | 'fleets' | 'groups'>;
  events: Pick<FleetEventBus, 'publish'>;
  logger: Logger;
  now: () => Date;
}

export const DEFAULTS = {
  canary: 'tag:canary',
  successPercent: 95,
  failurePercent: 5,
  deadlineSeconds: 1800,
} as const;

function selectorOf(text: string, what: string): DeviceSelector {
  try {
    return parseSelector(text);
  } catch (err) {
    if (err instanceof SelectorError) throw badRequest('invalid-selector', `${what}: ${err.message}`);
    throw err;
  }
}

/** A stable order that differs between rollouts: the same devices are not always the first to get a release. */
function spreadKey(rolloutId: string, uuid: string): string {
  return createHash('sha256').update(`${rolloutId}:${uuid}`).digest('hex');
}

function phaseLabel(spec: PhaseSpec): string {
  return 'percent' in spec ? `${spec.percent}%` : `selector ${JSON.stringify(spec.selector)}`;
}

function publish(
  deps: RolloutDeps,
  rollout: RolloutRecord,
  kind: FleetEventKind,
  summary: string,
  detail: Record<string, unknown> = {},
): void {
  deps.events.publish({
    kind,
    fleet: rollout.fleet,
    rollout: rollout.id,
    release: rollout.releaseId,
    summary: summary.slice(0, 1024),
    detail,
  });
}

/** Starts a rollout of `request.release` over the fleet's devices the selector picks; runs its first step at once. */
export async function createRollout(
  deps: RolloutDeps,
  fleet: FleetRecord,
  request: CreateRolloutRequest,
  actor: string,
): Promise<RolloutRecord> {
  const { store } = deps;
  const release = await store.releases.find(fleet.name, request.release);
  if (release === null) throw notFound(`fleet '${fleet.name}' has no release with id or version '${request.release}'`);
  if (release.status !== 'ready' || !approvalAllowsDevices(release.review.approval))
    throw conflict(
      `release ${release.version} of fleet '${fleet.name}' is ${release.status === 'ready' ? `waiting for approval (${release.review.approval})` : release.status}; only a ready release that devices may run can be rolled out`,
    );
  const selector = selectorOf(request.selector ?? '', 'the rollout selector');
  const canary = selectorOf(request.canary ?? DEFAULTS.canary, 'the canary selector');
  const phaseSpecs = request.phases;
  const byPercent = phaseSpecs.every((spec) => 'percent' in spec);
  const bySelector = phaseSpecs.every((spec) => 'selector' in spec);
  if (!byPercent && !bySelector)
    throw badRequest('invalid-phases', 'phases are all percentages or all selectors, not a mix of both');
  const percents = phaseSpecs.flatMap((spec) => ('percent' in spec ? [spec.percent] : []));
  for (let i = 1; i < percents.length; i += 1) {
    if (percents[i]! <= percents[i - 1]!)
      throw badRequest(
        'invalid-phases',
        `phase ${i + 1} reaches ${percents[i]}% after phase ${i} reached ${percents[i - 1]}%; percentages are cumulative and must grow (e.g. 1, 10, 100)`,
      );
  }
  const phaseSelectors = phaseSpecs.map((spec, i) =>
    'selector' in spec ? selectorOf(spec.selector, `the selector of phase ${i + 1}`) : null,
  );
  // `group:NAME` means the fleet's saved group as it stands now; the rollout stores the selector texts as given.
  const resolve = async (s: DeviceSelector, what: string): Promise<DeviceSelector> => {
    try {
      return await withFleetGroups(store, fleet.name, s);
    } catch (err) {
      if (err instanceof SelectorError) throw badRequest('invalid-selector', `${what}: ${err.message}`);
      throw err;
    }
  };
  const picks = await resolve(selector, 'the rollout selector');
  const canaries = await resolve(canary, 'the canary selector');
  const phasePicks = await Promise.all(
    phaseSelectors.map((s, i) => (s === null ? null : resolve(s, `the selector of phase ${i + 1}`))),
  );
  const now = deps.now();
  const id = randomBytes(6).toString('hex');
  const devices = (await fleetDevicesOf(store, fleet, now)).filter((device) => selects(picks, device.attributes));
  const pinned = devices.filter((device) => device.pinnedReleaseId !== null);
  const covered = devices.filter((device) => device.pinnedReleaseId === null);
  const releaseIds = new Set((await store.releases.list(fleet.name)).map((r) => r.id));
  // What a device not reached yet keeps: the release it reports running, when that is one of its fleet's.
  const previousOf = (report: { releaseId: string | null } | null): string | null =>
    report?.releaseId != null && releaseIds.has(report.releaseId) ? report.releaseId : null;
  const members: { uuid: string; phase: number; previousReleaseId: string | null }[] = [];
  if (byPercent) {
    const ordered = [...covered].sort((a, b) => {
      const canaryA = selects(canaries, a.attributes) ? 0 : 1;
      const canaryB = selects(canaries, b.attributes) ? 0 : 1;
      if (canaryA !== canaryB) return canaryA - canaryB;
      const keyA = spreadKey(id, a.attributes.uuid);
      const keyB = spreadKey(id, b.attributes.uuid);
      return keyA < keyB ? -1 : keyA > keyB ? 1 : 0;
    });
    let at = 0;
    phaseSizes(ordered.length, percents).forEach((size, phase) => {
      for (const device of ordered.slice(at, at + size))
        members.push({ uuid: device.attributes.uuid, phase, previousReleaseId: previousOf(device.report) });
      at += size;
    });
  } else {
    for (const device of covered) {
      const phase = phasePicks.findIndex((s) => s !== null && selects(s, device.attributes));
      if (phase >= 0)
        members.push({ uuid: device.attributes.uuid, phase, previousReleaseId: previousOf(device.report) });
    }
  }
  const sizes = phaseSpecs.map((_, phase) => members.filter((m) => m.phase === phase).length);
  const phases: PhaseRecord[] = phaseSpecs.map((spec, index) => ({
    spec,
    state: index === 0 ? 'running' : 'waiting',
    startedAt: index === 0 ? now.toISOString() : null,
    endedAt: null,
  }));
  const settings = {
    successPercent: request.successPercent ?? DEFAULTS.successPercent,
    failurePercent: request.failurePercent ?? DEFAULTS.failurePercent,
    deadlineSeconds: request.deadlineSeconds ?? DEFAULTS.deadlineSeconds,
    ratePerMinute: request.ratePerMinute ?? null,
    rollbackOnHalt: request.rollbackOnHalt ?? false,
    excluded: pinned.length,
  };
  const rollout = await store.rollouts.create(
    {
      id,
      fleet: fleet.name,
      releaseId: release.id,
      selector: selector.text,
      canary: canary.text,
      phases,
      settings,
      devices: members,
      audit: {
        release: release.version,
        selector: selector.text,
        canary: canary.text,
        phases: phaseSpecs.map(phaseLabel),
        phaseSizes: sizes,
        devices: members.length,
        excludedPinned: pinned.length,
        ...settings,
      },
    },
    { actor, at: now.toISOString() },
  );
  deps.logger.info(
    { fleet: fleet.name, rollout: id, release: release.version, devices: members.length, phaseSizes: sizes },
    'rollout created',
  );
  publish(
    deps,
    rollout,
    'rollout.created',
    `rollout ${id} of release ${release.version} to ${members.length} devices in ${phases.length} phases (${sizes.join(', ')})`,
    { devices: members.length, phaseSizes: sizes, excludedPinned: pinned.length },
  );
  publish(
    deps,
    rollout,
    'rollout.phase.started',
    `phase 1 (${phaseLabel(phaseSpecs[0]!)}) started: ${sizes[0]} devices`,
    {
      phase: 1,
      devices: sizes[0],
    },
  );
  return (await advanceRollout(deps, rollout)) ?? rollout;
}

function machineOf(rollout: RolloutRecord): MachineState<PhaseRecord> {
  return { state: rollout.state, phase: rollout.phase, phases: rollout.phases };
}

/** The counts of one phase as they stand now. */
async function tallyOf(deps: RolloutDeps, rollout: RolloutRecord, phase: number): Promise<PhaseTally> {
  const rows = (await deps.store.rollouts.assignments(rollout.id)).filter((row) => row.phase === phase);
  const reports = await deps.store.rollouts.reportsOf(rollout.id, phase);
  return tallyPhase(rows, reports, rollout.releaseId, rollout.settings.deadlineSeconds, deps.now());
}

/** The step of `event`, as the state machine has it, with what it asks of the devices. */
function stepOf(
  rollout: RolloutRecord,
  event: RolloutEvent,
  now: Date,
  reason: string | null,
  detail: Record<string, unknown>,
): RolloutStep {
  const next = step(machineOf(rollout), event, now);
  const rollsBack = event === 'abort' || event === 'halt-rollback';
  return {
    state: next.state,
    phase: next.phase,
    phases: [...next.phases],
    reason,
    assign: [],
    rollBackPhase: rollsBack ? rollout.phase : null,
    action: `rollout.${event}`,
    detail: { phase: rollout.phase + 1, ...detail },
  };
}

/**
 * One level-triggered step of a running rollout at `deps.now()`: judge the current phase from its devices' reports,
 * then halt, pass (start the next phase, or complete), or assign the devices the rate lets in. Returns the
 * rollout after the step; null when nothing was done or another instance stepped it first (it re-reads next time).
 */
export async function advanceRollout(deps: RolloutDeps, rollout: RolloutRecord): Promise<RolloutRecord | null> {
  if (rollout.state !== 'running') return null;
  const now = deps.now();
  const phase = rollout.phase;
  const rows = (await deps.store.rollouts.assignments(rollout.id)).filter((row) => row.phase === phase);
  const reports = await deps.store.rollouts.reportsOf(rollout.id, phase);
  const tally = tallyPhase(rows, reports, rollout.releaseId, rollout.settings.deadlineSeconds, now);
  const waiting = rows.filter((row) => row.state === 'pending');
  const verdict = judgePhase(tally.counts, rollout.settings, waiting.length === 0);
  const numbers = {
    counts: tally.counts,
    successPercent: rollout.settings.successPercent,
    failurePercent: rollout.settings.failurePercent,
    ...(tally.failures.length > 0 ? { failures: tally.failures } : {}),
  };
  const stamp: Stamp = { actor: 'system', at: now.toISOString() };
  const label = `phase ${phase + 1} (${phaseLabel(rollout.phases[phase]!.spec)})`;
  if (verdict.kind === 'halt') {
    const event = rollout.settings.rollbackOnHalt ? 'halt-rollback' : 'halt';
    const reason = `${label} halted: ${verdict.summary}${event === 'halt-rollback' ? '; its devices go back to the release they had' : ''}`;
    const done = await deps.store.rollouts.commit(
      rollout.id,
      rollout.revision,
      stepOf(rollout, event, now, reason, numbers),
      stamp,
    );
    if (done === null) return null;
    deps.logger.warn({ fleet: done.fleet, rollout: done.id, ...numbers }, reason);
    publish(deps, done, 'rollout.halted', reason, numbers);
    return done;
  }
  if (verdict.kind === 'pass') {
    const last = phase === rollout.phases.length - 1;
    const event = last ? 'complete' : 'advance';
    const reason = last ? `completed: ${label} passed with ${verdict.summary}` : null;
    const done = await deps.store.rollouts.commit(
      rollout.id,
      rollout.revision,
      stepOf(rollout, event, now, reason, { ...numbers, summary: verdict.summary }),
      stamp,
    );
    if (done === null) return null;
    deps.logger.info({ fleet: done.fleet, rollout: done.id, ...numbers }, `${label} passed`);
    publish(deps, done, 'rollout.phase.passed', `${label} passed: ${verdict.summary}`, numbers);
    if (last) publish(deps, done, 'rollout.completed', `rollout ${done.id} completed`, numbers);
    else {
      const next = done.phases[done.phase]!;
      publish(deps, done, 'rollout.phase.started', `phase ${done.phase + 1} (${phaseLabel(next.spec)}) started`, {
        phase: done.phase + 1,
      });
    }
    return done;
  }
  const startedAt = rollout.phases[phase]!.startedAt;
  const assignedInPhase = rows.length - waiting.length;
  const allowed = allowance(
    rollout.settings.ratePerMinute,
    new Date(startedAt ?? rollout.updatedAt),
    now,
    assignedInPhase,
    waiting.length,
  );
  if (allowed === 0) return null;
  const assign = waiting.slice(0, allowed).map((row) => row.uuid);
  const done = await deps.store.rollouts.commit(
    rollout.id,
    rollout.revision,
    {
      state: rollout.state,
      phase,
      phases: rollout.phases,
      reason: rollout.reason,
      assign,
      rollBackPhase: null,
      action: 'rollout.assign',
      detail: {
        phase: phase + 1,
        ratePerMinute: rollout.settings.ratePerMinute,
        waiting: waiting.length - assign.length,
      },
    },
    stamp,
  );
  return done;
}

export type OperatorAction = 'pause' | 'resume' | 'abort';

const ACTION_EVENTS: Readonly<Record<OperatorAction, FleetEventKind>> = {
  pause: 'rollout.paused',
  resume: 'rollout.resumed',
  abort: 'rollout.aborted',
};

/** Reads the rollout of `fleet` or answers 404. */
export async function rolloutOr404(deps: RolloutDeps, fleet: string, id: string): Promise<RolloutRecord> {
  const rollout = await deps.store.rollouts.get(id);
  if (rollout === null || rollout.fleet !== fleet) throw notFound(`fleet '${fleet}' has no rollout '${id}'`);
  return rollout;
}

/** An operator's pause, resume or abort; 409 when the rollout's state does not allow it. */
export async function actOn(
  deps: RolloutDeps,
  fleet: string,
  id: string,
  action: OperatorAction,
  actor: string,
  note: string | null,
): Promise<RolloutRecord> {
  // A step decided on a rollout that moved meanwhile is refused by the store: read again and decide again.
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const rollout = await rolloutOr404(deps, fleet, id);
    const now = deps.now();
    const refusal = refusalOf(action, rollout.state);
    if (refusal !== null) throw conflict(`rollout ${id}: ${refusal}`);
    const tally = await tallyOf(deps, rollout, rollout.phase);
    const reason = `${action} by ${actor}${note === null ? '' : `: ${note}`}`;
    const stepped = stepOf(rollout, action, now, action === 'resume' ? null : reason, {
      counts: tally.counts,
      ...(note === null ? {} : { note }),
    });
    const done = await deps.store.rollouts.commit(rollout.id, rollout.revision, stepped, {
      actor,
      at: now.toISOString(),
    });
    if (done === null) continue;
    deps.logger.info({ fleet, rollout: id, action, by: actor }, `rollout ${action}`);
    publish(deps, done, ACTION_EVENTS[action], `rollout ${id}: ${reason}`, { counts: tally.counts });
    return done;
  }
  throw conflict(`rollout ${id} kept changing while ${action} was applied; try again`);
}

/** Halts every running or paused rollout of the fleet; returns the ids halted. */
export async function emergencyStop(
  deps: RolloutDeps,
  fleet: string,
  actor: string,
  note: string | null,
): Promise<string[]> {
  const halted: string[] = [];
  const reason = `emergency stop of fleet '${fleet}' by ${actor}${note === null ? '' : `: ${note}`}`;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const active = await deps.store.rollouts.inState(['running', 'paused'], fleet);
    if (active.length === 0) break;
    for (const rollout of active) {
      const now = deps.now();
      const done = await deps.store.rollouts.commit(
        rollout.id,
        rollout.revision,
        stepOf(rollout, 'stop', now, reason, note === null ? {} : { note }),
        { actor, at: now.toISOString() },
      );
      if (done === null) continue;
      halted.push(done.id);
      publish(deps, done, 'rollout.halted', `rollout ${done.id} halted: ${reason}`);
    }
  }
  deps.logger.warn({ fleet, halted, by: actor }, 'fleet emergency stop');
  deps.events.publish({
    kind: 'fleet.emergency-stop',
    fleet,
    summary: `${reason}: ${halted.length} rollout${halted.length === 1 ? '' : 's'} halted`,
    detail: { halted },
  });
  return halted;
}

/** The rollout as the API shows it: with its release's version and each phase's counts. */
export async function rolloutView(deps: RolloutDeps, rollout: RolloutRecord): Promise<Rollout> {
  const release = await deps.store.releases.get(rollout.releaseId);
  const rows = await deps.store.rollouts.assignments(rollout.id);
  const now = deps.now();
  const phases: RolloutPhase[] = [];
  for (const [index, phase] of rollout.phases.entries()) {
    const phaseRows = rows.filter((row) => row.phase === index);
    const reports = phaseRows.some((row) => row.state === 'assigned')
      ? await deps.store.rollouts.reportsOf(rollout.id, index)
      : new Map();
    const { counts } = tallyPhase(phaseRows, reports, rollout.releaseId, rollout.settings.deadlineSeconds, now);
    phases.push({
      index,
      spec: phase.spec,
      state: phase.state,
      startedAt: phase.startedAt,
      endedAt: phase.endedAt,
      counts,
    });
  }
  return {
    id: rollout.id,
    fleet: rollout.fleet,
    releaseId: rollout.releaseId,
    releaseVersion: release?.version ?? rollout.releaseId,
    selector: rollout.selector,
    canary: rollout.canary,
    state: rollout.state,
    phase: rollout.phase,
    successPercent: rollout.settings.successPercent,
    failurePercent: rollout.settings.failurePercent,
    deadlineSeconds: rollout.settings.deadlineSeconds,
    ratePerMinute: rollout.settings.ratePerMinute,
    rollbackOnHalt: rollout.settings.rollbackOnHalt,
    reason: rollout.reason,
    excluded: rollout.settings.excluded,
    createdBy: rollout.createdBy,
    createdAt: rollout.createdAt,
    updatedAt: rollout.updatedAt,
    phases,
  };
}

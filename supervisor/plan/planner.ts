// The plan from what runs to what should run: a pure function of two plain values. It plans only what can be done
// now; the reconciler applies it, reads the engine again and plans again until the plan is empty.
//
// Rules: a release is applied as a whole: while an image that can be fetched beforehand is missing, only fetch and
// create networks/volumes, no running container is touched (each service's update strategy, update-strategy.ts,
// says which images can); replace out-of-date containers (stop, remove, then start the new one, or for hand-over
// the other way round); a service holding its update lock holds back every stop; remove containers of services the
// target dropped and duplicates; start a service only once its dependencies satisfy their condition; never remove
// volumes; remove managed networks the target no longer has once nothing uses them; never fetch what does not fit
// on the disk (disk-space.ts). A service an operator stopped (../reconcile/held-services.ts) is never started: an update still
// replaces its container, but the new one is only created, so the release is applied and the service stays down.
import type { TargetState } from '../../protocol/target-state.js';
import { byCodePoint } from '../../lib/code-point-order.js';
import { assign, type Assignment } from './assignment.js';
import {
  DEFAULT_STOP_TIMEOUT_SECONDS,
  type DependencyCondition,
  type DesiredContainer,
  type HostContext,
} from './container-config.js';
import type { CurrentState, ObservedContainer } from './observed.js';
import { desiredState, type DesiredResource } from './desired-state.js';
import { roomFor, UNPACK_FACTOR, type DiskFacts } from './disk-space.js';
import { budgetVerdict, type BudgetFacts } from './data-budget.js';

export type Step =
  | { kind: 'fetchImage'; image: string }
  | { kind: 'createNetwork'; network: DesiredResource }
  | { kind: 'createVolume'; volume: DesiredResource }
  | { kind: 'stopContainer'; service: string | null; containerId: string; timeoutSeconds: number }
  | { kind: 'removeContainer'; service: string | null; containerId: string }
  | { kind: 'removeNetwork'; networkId: string; name: string }
  /** Remove an image no container uses any more (an id, or the reference a container was created from). */
  | { kind: 'removeImage'; image: string; reason: 'room for the update' | 'delete-then-download' | 'old release' }
  /** Create and start a container for the service. */
  | { kind: 'startService'; container: DesiredContainer }
  /** Create a held service's container without starting it. */
  | { kind: 'createService'; container: DesiredContainer }
  /** Start an existing container that already matches its service. */
  | { kind: 'startContainer'; service: string; containerId: string };

export type StepKind = Step['kind'];

/** A service that cannot start yet because a dependency does not satisfy its condition. */
export interface Waiting {
  service: string;
  dependency: string;
  condition: DependencyCondition;
}

export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'fetchImage':
      return `fetch image ${step.image}`;
    case 'createNetwork':
      return `create network ${step.network.name}`;
    case 'createVolume':
      return `create volume ${step.volume.name}`;
    case 'stopContainer':
      return `stop container ${step.containerId.slice(0, 12)} (service ${step.service ?? '?'})`;
    case 'removeContainer':
      return `remove container ${step.containerId.slice(0, 12)} (service ${step.service ?? '?'})`;
    case 'removeNetwork':
      return `remove network ${step.name}`;
    case 'removeImage':
      return `remove image ${step.image} (${step.reason})`;
    case 'startService':
      return `start service ${step.container.service} as ${step.container.name}`;
    case 'createService':
      return `create service ${step.container.service} as ${step.container.name} (held: not started)`;
    case 'startContainer':
      return `start container ${step.containerId.slice(0, 12)} (service ${step.service})`;
  }
}

function satisfies(container: ObservedContainer | undefined, condition: DependencyCondition): boolean {
  if (container === undefined) return false;
  switch (condition) {
    case 'service_started':
      return container.state === 'running' || container.state === 'restarting' || container.state === 'exited';
    case 'service_healthy':
      // A dependency without a health check counts as healthy once it runs (compose refuses it outright).
      return container.state === 'running' && (container.health === null || container.health === 'healthy');
    case 'service_completed_successfully':
      return container.state === 'exited' && container.exitCode === 0;
  }
}

function unmetDependencies(desired: DesiredContainer, assignment: Assignment): Waiting[] {
  return Object.entries(desired.dependsOn)
    .filter(([dependency, condition]) => !satisfies(assignment.kept.get(dependency), condition))
    .map(([dependency, condition]) => ({ service: desired.service, dependency, condition }));
}

/**
 * Whether the supervisor starts an up-to-date container that is not running. A container is started once; after
 * that its restart policy is the engine's business. Only 'always' is also enforced here: a container stopped
 * outside the engine's restart logic is brought back. An exited 'no'/'on-failure' container has finished its
 * work and an 'unless-stopped' one was stopped on purpose.
 */
function needsStart(container: ObservedContainer, desired: DesiredContainer): boolean {
  return container.state === 'created' || (container.state === 'exited' && desired.restart === 'always');
}

function retireSteps(container: ObservedContainer): Step[] {
  if (container.state === 'removing') return [];
  const steps: Step[] = [];
  if (container.state === 'running' || container.state === 'restarting' || container.state === 'paused') {
    steps.push({
      kind: 'stopContainer',
      service: container.service,
      containerId: container.id,
      // The grace the container was created with, not the new spec's: it is the old program that stops.
      timeoutSeconds: container.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS,
    });
  }
  steps.push({ kind: 'removeContainer', service: container.service, containerId: container.id });
  return steps;
}

/** Facts besides the engine's containers that decide the plan; gathered by the reconciler, plain data here. */
export interface PlanContext {
  /** Services that hold their update lock (../reconcile/update-lock.ts). */
  locks: ReadonlySet<string>;
  /** Per hand-over service: when it last wrote its hand-over file. */
  handovers: ReadonlyMap<string, Date>;
  now: Date;
  /** Absent: no disk check (nothing is missing, or the facts could not be had). */
  disk?: DiskFacts;
  host?: HostContext;
  /** Services stopped on purpose through the local API (../reconcile/held-services.ts); absent: none. */
  held?: ReadonlySet<string>;
  /** The month's data budget and what is used of it (data-budget.ts); absent: no budget. */
  budget?: BudgetFacts;
}

export const NO_CONTEXT: PlanContext = { locks: new Set(), handovers: new Map(), now: new Date(0) };

export interface Plan {
  steps: Step[];
  /** Services held back by dependencies that are not ready yet. */
  waiting: Waiting[];
  /** Services whose update lock holds the release back. */
  locked: string[];
  /** Hand-over services whose new container runs next to the old one, not ready yet. */
  handingOver: string[];
  /** Why nothing can be done (e.g. the release does not fit on the disk); the steps are then empty. */
  error: string | null;
  /** The update waits for the data budget to start afresh (data-budget.ts); the steps are then empty. */
  deferred?: { message: string; until: Date };
}

function isActive(c: ObservedContainer): boolean {
  return c.state === 'running' || c.state === 'restarting' || c.state === 'paused';
}

function handoverReady(kept: ObservedContainer, desired: DesiredContainer, context: PlanContext): boolean {
  if (kept.state !== 'running') return false;
  if (kept.health === 'healthy') return true;
  const created = Date.parse(kept.createdAt);
  const written = context.handovers.get(desired.service);
  // Only a file written after this container was created: one left by an earlier hand-over does not count.
  if (written !== undefined && written.getTime() >= created - 1_000) return true;
  return context.now.getTime() - created >= desired.handoverTimeoutSeconds * 1_000;
}

/**
 * The next steps from what runs to what should run. Stages, each planned only once the one before is done:
 * 1. fetch every image that can be fetched while the old release runs (all but those of kill-/delete-then-download
 *    services that still have an old container), create networks and volumes: nothing running is touched;
 * 2. retire old containers (those of hand-over services only once their successor is ready), remove the images a
 *    delete-then-download service gives up, start new containers whose dependencies are satisfied;
 * 3. the kill-/delete-then-download services now have no container: their images are fetched as in stage 1.
 * A lock held by any service that would be stopped holds back every stop of the release.
 */
export function planUpdate(current: CurrentState, target: TargetState, context: PlanContext = NO_CONTEXT): Plan {
  const desired = desiredState(target, context.host);
  const networkNames = new Set(current.networks.map((n) => n.name));
  const volumeNames = new Set(current.volumes);
  const images = new Set(current.images);
  const assignment = assign(current.containers, desired.containers);
  const result: Plan = { steps: [], waiting: [], locked: [], handingOver: [], error: null };

  const retiredOf = (service: string): ObservedContainer[] => assignment.retired.filter((c) => c.service === service);
  const killsFirst = (d: DesiredContainer): boolean =>
    (d.strategy === 'kill-then-download' || d.strategy === 'delete-then-download') &&
    !assignment.kept.has(d.service) &&
    retiredOf(d.service).some((c) => c.state !== 'removing');
  const missing = [...new Set(desired.containers.map((c) => c.image))].filter((image) => !images.has(image)).sort();
  const fetchNow = missing.filter((image) => desired.containers.some((d) => d.image === image && !killsFirst(d)));

  if (context.disk !== undefined && missing.length > 0) {
    const disk = context.disk;
    const targetImages = new Set(desired.containers.map((d) => d.image));
    // What delete-then-download services give up before their own images are fetched.
    const givenUp = new Set(
      desired.containers
        .filter((d) => d.strategy === 'delete-then-download' && killsFirst(d))
        .flatMap((d) => retiredOf(d.service).map((c) => c.image))
        .filter((image) => !targetImages.has(image)),
    );
    const laterFreed = [...givenUp].reduce((sum, image) => sum + (disk.inUse[image] ?? 0), 0);
    // The whole release first: an update that cannot finish is not begun.
    const whole = roomFor(missing, disk, laterFreed);
    if (whole.kind === 'short') return { ...result, error: whole.message };
    const now = roomFor(fetchNow, disk);
    if (now.kind === 'short') return { ...result, error: now.message };
    if (now.kind === 'reclaim') {
      return {
        ...result,
        steps: now.remove.map((i): Step => ({ kind: 'removeImage', image: i.id, reason: 'room for the update' })),
      };
    }
  }

  // The whole release's downloads against what the month's budget has left: deferred whole, before any byte.
  if (context.budget !== undefined && context.disk !== undefined && missing.length > 0) {
    const { download, needs } = context.disk;
    // The download directory's count is the blobs still missing there; without it, the engine's need unscaled.
    const neededBytes = missing.reduce(
      (sum, image) => sum + (download?.needs[image] ?? Math.ceil((needs[image] ?? 0) / UNPACK_FACTOR)),
      0,
    );
    const verdict = budgetVerdict(neededBytes, context.budget, context.now);
    if (verdict.kind === 'deferred') return { ...result, deferred: { message: verdict.message, until: verdict.until } };
  }

  const prepare: Step[] = [
    ...fetchNow.map((image): Step => ({ kind: 'fetchImage', image })),
    ...desired.networks
      .filter((n) => n.external !== true && !networkNames.has(n.name))
      .map((network): Step => ({ kind: 'createNetwork', network })),
    ...desired.volumes
      .filter((v) => v.external !== true && !volumeNames.has(v.name))
      .map((volume): Step => ({ kind: 'createVolume', volume })),
  ];
  if (fetchNow.length > 0) return { ...result, steps: prepare };

  const desiredByService = new Map(desired.containers.map((d) => [d.service, d]));
  const overrideLocks = target.config.overrideLocks === true;
  // Old containers a hand-over keeps running until their successor is ready.
  const handingOver = new Set<string>();
  for (const d of desired.containers) {
    if (d.strategy !== 'hand-over' || !retiredOf(d.service).some(isActive)) continue;
    const kept = assignment.kept.get(d.service);
    if (kept === undefined || !handoverReady(kept, d, context)) handingOver.add(d.service);
  }
  const retiring = assignment.retired.filter((c) => c.service === null || !handingOver.has(c.service));
  const locked = overrideLocks
    ? []
    : [
        ...new Set(
          retiring
            .filter((c) => isActive(c) && c.service !== null && context.locks.has(c.service))
            .map((c) => c.service ?? ''),
        ),
      ].sort();

  const held = context.held ?? new Set<string>();
  const start: Step[] = [];
  for (const d of [...desired.containers].sort((a, b) => byCodePoint(a.service, b.service))) {
    const kept = assignment.kept.get(d.service);
    if (kept !== undefined && (held.has(d.service) || !needsStart(kept, d))) continue;
    if (kept === undefined && !images.has(d.image)) continue;
    // While a lock holds the release back, only repairs run: a new container would mix the releases.
    if (kept === undefined && locked.length > 0) continue;
    // A container that is only created waits for no dependency: nothing of it runs.
    if (kept === undefined && held.has(d.service)) {
      start.push({ kind: 'createService', container: d });
      continue;
    }
    if (unmetDependencies(d, assignment).length > 0) continue;
    start.push(
      kept === undefined
        ? { kind: 'startService', container: d }
        : { kind: 'startContainer', service: d.service, containerId: kept.id },
    );
  }

  const retire = locked.length > 0 ? [] : retiring.flatMap(retireSteps);
  const stillUsed = new Set([
    ...desired.containers.map((d) => d.image),
    ...current.containers.filter((c) => !retiring.includes(c)).map((c) => c.image),
  ]);
  const giveUp =
    locked.length > 0
      ? []
      : [
          ...new Set(
            retiring
              .filter((c) => c.service !== null && desiredByService.get(c.service)?.strategy === 'delete-then-download')
              .map((c) => c.image),
          ),
        ]
          .filter((image) => !stillUsed.has(image))
          .sort()
          .map((image): Step => ({ kind: 'removeImage', image, reason: 'delete-then-download' }));

  // Retired containers still hold their networks in this state; such a network goes in a later pass.
  const wantedNetworks = new Set(desired.networks.map((n) => n.name));
  const attached = new Set(current.containers.flatMap((c) => c.networks));
  const removeNetworks = current.networks
    .filter((n) => n.managed && !wantedNetworks.has(n.name) && !n.inUse && !attached.has(n.name))
    .sort((a, b) => byCodePoint(a.name, b.name))
    .map((n): Step => ({ kind: 'removeNetwork', networkId: n.id, name: n.name }));

  return {
    steps: [...prepare, ...retire, ...giveUp, ...removeNetworks, ...start],
    waiting: waitingOf(desired.containers, assignment, held),
    locked,
    handingOver: [...handingOver].sort(),
    error: null,
  };
}

export function plan(current: CurrentState, target: TargetState, context: PlanContext = NO_CONTEXT): Step[] {
  return planUpdate(current, target, context).steps;
}

function waitingOf(
  desired: DesiredContainer[],
  assignment: Assignment,
  held: ReadonlySet<string> = new Set(),
): Waiting[] {
  return desired
    .filter((d) => {
      if (held.has(d.service)) return false;
      const kept = assignment.kept.get(d.service);
      return kept === undefined || needsStart(kept, d);
    })
    .flatMap((d) => unmetDependencies(d, assignment));
}

/** Services that have no running container yet only because a dependency is not ready. */
export function waitingFor(current: CurrentState, target: TargetState): Waiting[] {
  const desired = desiredState(target);
  return waitingOf(desired.containers, assign(current.containers, desired.containers));
}

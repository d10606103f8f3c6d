// The plan from what runs to what should run: a pure function of two plain values. It plans only what can be done
// now; the reconciler applies it, reads the engine again and plans again until the plan is empty.
//
// Rules: download-then-kill (while an image is missing, only fetch and create networks/volumes; no running
// container is touched); replace out-of-date containers (stop, remove, then start the new one); remove containers
// of services the target dropped and duplicates; start a service only once its dependencies satisfy their
// condition; never remove volumes; remove managed networks the target no longer has once nothing uses them.
import type { TargetState } from '../protocol/target-state.js';
import { assign, type Assignment } from './assignment.js';
import { DEFAULT_STOP_TIMEOUT_SECONDS, type DependencyCondition, type DesiredContainer } from './container-config.js';
import type { CurrentState, ObservedContainer } from './current-state.js';
import { desiredState, type DesiredResource } from './desired-state.js';

export type Step =
  | { kind: 'fetchImage'; image: string }
  | { kind: 'createNetwork'; network: DesiredResource }
  | { kind: 'createVolume'; volume: DesiredResource }
  | { kind: 'stopContainer'; service: string | null; containerId: string; timeoutSeconds: number }
  | { kind: 'removeContainer'; service: string | null; containerId: string }
  | { kind: 'removeNetwork'; networkId: string; name: string }
  /** Create and start a container for the service. */
  | { kind: 'startService'; container: DesiredContainer }
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
    case 'fetchImage': return `fetch image ${step.image}`;
    case 'createNetwork': return `create network ${step.network.name}`;
    case 'createVolume': return `create volume ${step.volume.name}`;
    case 'stopContainer': return `stop container ${step.containerId.slice(0, 12)} (service ${step.service ?? '?'})`;
    case 'removeContainer': return `remove container ${step.containerId.slice(0, 12)} (service ${step.service ?? '?'})`;
    case 'removeNetwork': return `remove network ${step.name}`;
    case 'startService': return `start service ${step.container.service} as ${step.container.name}`;
    case 'startContainer': return `start container ${step.containerId.slice(0, 12)} (service ${step.service})`;
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

export function plan(current: CurrentState, target: TargetState): Step[] {
  const desired = desiredState(target);
  const networkNames = new Set(current.networks.map((n) => n.name));
  const volumeNames = new Set(current.volumes);
  const images = new Set(current.images);

  const prepare: Step[] = [
    ...[...new Set(desired.containers.map((c) => c.image))]
      .filter((image) => !images.has(image))
      .sort()
      .map((image): Step => ({ kind: 'fetchImage', image })),
    ...desired.networks.filter((n) => !networkNames.has(n.name)).map((network): Step => ({ kind: 'createNetwork', network })),
    ...desired.volumes.filter((v) => !volumeNames.has(v.name)).map((volume): Step => ({ kind: 'createVolume', volume })),
  ];
  if (prepare.some((s) => s.kind === 'fetchImage')) return prepare;

  const assignment = assign(current.containers, desired.containers);
  const retire = assignment.retired.flatMap(retireSteps);

  const start: Step[] = [];
  for (const d of [...desired.containers].sort((a, b) => a.service.localeCompare(b.service))) {
    const kept = assignment.kept.get(d.service);
    if (kept !== undefined && !needsStart(kept, d)) continue;
    if (unmetDependencies(d, assignment).length > 0) continue;
    start.push(kept === undefined
      ? { kind: 'startService', container: d }
      : { kind: 'startContainer', service: d.service, containerId: kept.id });
  }

  // Retired containers still hold their networks in this state; such a network goes in a later pass.
  const wantedNetworks = new Set(desired.networks.map((n) => n.name));
  const attached = new Set(current.containers.flatMap((c) => c.networks));
  const removeNetworks = current.networks
    .filter((n) => n.managed && !wantedNetworks.has(n.name) && !n.inUse && !attached.has(n.name))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((n): Step => ({ kind: 'removeNetwork', networkId: n.id, name: n.name }));

  return [...prepare, ...retire, ...removeNetworks, ...start];
}

/** Services that have no running container yet only because a dependency is not ready. */
export function waitingFor(current: CurrentState, target: TargetState): Waiting[] {
  const desired = desiredState(target);
  const assignment = assign(current.containers, desired.containers);
  return desired.containers
    .filter((d) => {
      const kept = assignment.kept.get(d.service);
      return kept === undefined || needsStart(kept, d);
    })
    .flatMap((d) => unmetDependencies(d, assignment));
}

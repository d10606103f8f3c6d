// The target translated into engine objects: containers with their options and hashes, and the networks and
// volumes they need. Pure.
import type { TargetState } from '../../protocol/target-state.js';
import { desiredContainer, serviceNetworks, type DesiredContainer, type HostContext } from './container-config.js';
import { LABELS, networkName, volumeName } from './naming.js';

/** A network or volume the engine must have, with the labels it is created with. */
export interface DesiredResource {
  name: string;
  labels: Record<string, string>;
}

export interface DesiredState {
  releaseId: string | null;
  containers: DesiredContainer[];
  networks: DesiredResource[];
  volumes: DesiredResource[];
}

function uniqueSorted(names: Iterable<string>): string[] {
  return [...new Set(names)].sort();
}

export function desiredState(target: TargetState, host: HostContext = {}): DesiredState {
  // Declared and used names both count: a release that uses a name it did not declare still gets it created.
  const networks = uniqueSorted([...target.networks, ...target.services.flatMap(serviceNetworks)]);
  const volumes = uniqueSorted([
    ...target.volumes,
    ...target.services.flatMap((s) =>
      s.volumes.flatMap((v) => (v.type === 'volume' && v.source !== undefined ? [v.source] : [])),
    ),
  ]);
  const fleet = target.fleet.name;
  return {
    releaseId: target.release?.id ?? null,
    containers: target.services.map((s) => desiredContainer(s, target, host)),
    networks: networks.map((n) => ({
      name: networkName(n),
      labels: { [LABELS.managed]: 'true', [LABELS.fleet]: fleet, [LABELS.network]: n },
    })),
    volumes: volumes.map((v) => ({
      name: volumeName(v),
      labels: { [LABELS.managed]: 'true', [LABELS.fleet]: fleet, [LABELS.volume]: v },
    })),
  };
}

/** Image references the target needs, each once. */
export function imagesOf(target: TargetState): string[] {
  return uniqueSorted(target.services.map((s) => s.image));
}

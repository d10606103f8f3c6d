// What the engine runs right now, as plain data the planner and the reporter consume. Read fresh before every
// plan: the engine is the only source of truth about containers.
import type { ContainerHealth, ContainerRunState, Engine } from '../engine/engine.js';
import { resolveLocalImage } from '../images/local-image.js';
import { LABELS, MANAGED_FILTER } from '../plan/naming.js';

export interface ObservedContainer {
  id: string;
  name: string;
  /** Null for a managed container without a service label: it belongs to no service and is removed. */
  service: string | null;
  releaseId: string | null;
  configHash: string | null;
  image: string;
  state: ContainerRunState;
  health: ContainerHealth | null;
  exitCode: number | null;
  createdAt: string;
  networks: string[];
  stopTimeoutSeconds: number | null;
}

export interface ObservedNetwork {
  id: string;
  name: string;
  /** Created by the supervisor; only such a network is ever removed. */
  managed: boolean;
  /** The engine counts an endpoint on it. */
  inUse: boolean;
}

export interface CurrentState {
  /** Managed containers only. */
  containers: ObservedContainer[];
  /** Of the image references asked about, those the engine has. */
  images: string[];
  /** Every network: a name the target wants may exist without Skiff's labels, and is then used as it is. */
  networks: ObservedNetwork[];
  /** Every volume name (a volume the release names may predate Skiff). */
  volumes: string[];
}

export async function readCurrentState(engine: Engine, imageRefs: string[]): Promise<CurrentState> {
  const [containers, networks, volumes, present] = await Promise.all([
    engine.listContainers(MANAGED_FILTER),
    engine.listNetworks(),
    engine.listVolumes(),
    // Pulled (digest reference) or loaded by Skiff's downloader (local tag): see ../images/local-image.ts.
    Promise.all(imageRefs.map(async (ref) => ((await resolveLocalImage(engine, ref)) !== undefined ? ref : null))),
  ]);
  return {
    containers: containers.map((c) => ({
      id: c.id,
      name: c.name,
      service: c.labels[LABELS.service] ?? null,
      releaseId: c.labels[LABELS.release] || null,
      configHash: c.labels[LABELS.configHash] ?? null,
      image: c.image,
      state: c.state,
      health: c.health,
      exitCode: c.exitCode,
      createdAt: c.createdAt,
      networks: c.networks,
      stopTimeoutSeconds: c.stopTimeoutSeconds,
    })),
    images: present.filter((r): r is string => r !== null),
    networks: networks.map((n) => ({
      id: n.id,
      name: n.name,
      managed: n.labels[LABELS.managed] === 'true',
      inUse: n.containerCount > 0,
    })),
    volumes,
  };
}

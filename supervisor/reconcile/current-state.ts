// Reads what the engine runs right now into the planner's plain data (../plan/observed.ts). Read fresh before every
// plan: the engine is the only source of truth about containers.
import type { Engine, EngineContainer } from '../engine/engine.js';
import { resolveLocalImage } from '../images/local-image.js';
import { LABELS, MANAGED_FILTER } from '../plan/naming.js';
import type { CurrentState, ObservedContainer } from '../plan/observed.js';

// The reader's result, for the modules that take it from the reader (image cleanup, disk facts, the reporter).
export type { CurrentState, ObservedContainer, ObservedNetwork } from '../plan/observed.js';

/** The engine's managed containers in the planner's terms, without the rest of the state. */
export async function readContainers(engine: Engine): Promise<ObservedContainer[]> {
  return (await engine.listContainers(MANAGED_FILTER)).map(observed);
}

function observed(c: EngineContainer): ObservedContainer {
  return {
    id: c.id,
    name: c.name,
    service: c.labels[LABELS.service] ?? null,
    releaseId: c.labels[LABELS.release] || null,
    configHash: c.labels[LABELS.configHash] ?? null,
    image: c.image,
    state: c.state,
    health: c.health,
    exitCode: c.exitCode,
    ...(c.restartCount === undefined ? {} : { restartCount: c.restartCount }),
    createdAt: c.createdAt,
    networks: c.networks,
    stopTimeoutSeconds: c.stopTimeoutSeconds,
  };
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
    containers: containers.map(observed),
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

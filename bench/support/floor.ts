// The raw engine floor: the same engine objects Skiff would create for a release (networks, volumes, containers
// with identical create options, labels and names), made directly with dockerode and nothing else: no reads, no
// planning, every independent call in parallel. No supervisor can converge faster than this.
import type Docker from 'dockerode';
import type { TargetState } from '../../protocol/target-state.js';
import type { DesiredContainer } from '../../supervisor/container-config.js';
import { desiredState } from '../../supervisor/desired-state.js';

async function createAndStart(docker: Docker, container: DesiredContainer): Promise<string> {
  const created = await docker.createContainer({ ...container.options, name: container.name });
  await created.start();
  return created.id;
}

/** Creates everything of `target` on an empty engine; returns container ids by service. */
export async function floorUp(docker: Docker, target: TargetState): Promise<Map<string, string>> {
  const desired = desiredState(target);
  await Promise.all([
    ...desired.networks.map((n) => docker.createNetwork({ Name: n.name, Driver: 'bridge', CheckDuplicate: true, Labels: n.labels })),
    ...desired.volumes.map((v) => docker.createVolume({ Name: v.name, Labels: v.labels })),
  ]);
  const ids = await Promise.all(desired.containers.map(async (c) => [c.service, await createAndStart(docker, c)] as const));
  return new Map(ids);
}

/** Replaces the container of `service` (stop, remove, create, start), as `target` defines it. */
export async function floorReplace(docker: Docker, target: TargetState, service: string, oldId: string): Promise<string> {
  const desired = desiredState(target).containers.find((c) => c.service === service);
  if (desired === undefined) throw new Error(`service ${service} is not in release ${target.release?.id ?? '?'}`);
  const old = docker.getContainer(oldId);
  await old.stop({ t: 10 });
  await old.remove({ v: true });
  return createAndStart(docker, desired);
}

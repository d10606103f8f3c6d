// The raw engine floor: the same engine objects Skiff would create for a release (networks, volumes, containers
// with identical create options, labels and names), made directly with raw engine API calls and nothing else: no reads, no
// planning, every independent call in parallel. No supervisor can converge faster than this.
import type { TargetState } from '../../protocol/target-state.js';
import type { DesiredContainer } from '../../supervisor/plan/container-config.js';
import type { EngineClient } from '../../supervisor/engine/client.js';
import { desiredState } from '../../supervisor/plan/desired-state.js';

function idOf(answer: unknown, what: string): string {
  if (answer !== null && typeof answer === 'object' && 'Id' in answer && typeof answer.Id === 'string')
    return answer.Id;
  throw new Error(`engine answer to ${what} carries no Id: ${JSON.stringify(answer)}`);
}

async function createAndStart(docker: EngineClient, container: DesiredContainer): Promise<string> {
  const created = await docker.json('POST', '/containers/create', {
    query: { name: container.name },
    body: container.options,
  });
  const id = idOf(created, `creating ${container.name}`);
  await docker.json('POST', `/containers/${id}/start`);
  return id;
}

/** Creates everything of `target` on an empty engine; returns container ids by service. */
export async function floorUp(docker: EngineClient, target: TargetState): Promise<Map<string, string>> {
  const desired = desiredState(target);
  await Promise.all([
    ...desired.networks.map((n) =>
      docker.json('POST', '/networks/create', {
        body: { Name: n.name, Driver: 'bridge', CheckDuplicate: true, Labels: n.labels },
      }),
    ),
    ...desired.volumes.map((v) => docker.json('POST', '/volumes/create', { body: { Name: v.name, Labels: v.labels } })),
  ]);
  const ids = await Promise.all(
    desired.containers.map(async (c) => [c.service, await createAndStart(docker, c)] as const),
  );
  return new Map(ids);
}

/** Replaces the container of `service` (stop, remove, create, start), as `target` defines it. */
export async function floorReplace(
  docker: EngineClient,
  target: TargetState,
  service: string,
  oldId: string,
): Promise<string> {
  const desired = desiredState(target).containers.find((c) => c.service === service);
  if (desired === undefined) throw new Error(`service ${service} is not in release ${target.release?.id ?? '?'}`);
  await docker.json('POST', `/containers/${oldId}/stop`, { query: { t: 10 } });
  await docker.json('DELETE', `/containers/${oldId}`, { query: { v: 'true' } });
  return createAndStart(docker, desired);
}

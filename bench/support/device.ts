// The device engine between bench runs: emptied of everything any baseline created, and watched until it runs
// exactly what a release asks for.
import type { TargetState } from '../../protocol/target-state.js';
import { desiredState } from '../../supervisor/plan/desired-state.js';
import type { EngineClient } from '../../supervisor/engine/client.js';
import { cleanDevice, inspectContainer, managedContainers } from '../../harness/supervisor-device.js';
import { cleanCompose } from './compose.js';
import { sleep } from './stats.js';

export async function emptyDevice(docker: EngineClient): Promise<void> {
  await cleanDevice(docker, { volumes: true });
  await cleanCompose(docker);
}

/** True when the managed containers are exactly the release's, each running. */
export async function runsExactly(docker: EngineClient, target: TargetState): Promise<boolean> {
  const wanted = desiredState(target)
    .containers.map((c) => c.name)
    .sort();
  const running = await managedContainers(docker);
  const names = await Promise.all(
    running.map(async (c) => (await inspectContainer(docker, c.id)).Name.replace(/^\//, '')),
  );
  return running.every((c) => c.state === 'running') && JSON.stringify(names.sort()) === JSON.stringify(wanted);
}

export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

// What the local API does to one service's container: found by its labels, like everything the supervisor manages.
import { spawn } from 'node:child_process';
import type { ContainerLogLine, Engine, EngineContainer } from '../engine/engine.js';
import type { HeldServices } from '../reconcile/held-services.js';
import { LABELS, MANAGED_FILTER } from '../plan/naming.js';
import { LocalApiError, type ServiceAction } from './listen.js';
import { mostAlive } from '../plan/most-alive.js';

const DEFAULT_STOP_SECONDS = 10;

/** The service's container that matters: a running one first, else the newest. */
export async function serviceContainer(engine: Engine, service: string): Promise<EngineContainer> {
  const containers = (await engine.listContainers(MANAGED_FILTER)).filter((c) => c.labels[LABELS.service] === service);
  const best = mostAlive(containers);
  if (best === undefined) throw new LocalApiError(404, `no container of service '${service}' on this device`);
  return best;
}

/**
 * Runs `action` on the service's container; returns its id. Stop holds the service (persisted before the
 * container stops, so no reconcile pass in between starts it again) until start or restart releases it; a
 * service without a container has its hold released all the same before the 404.
 */
export async function serviceAction(
  engine: Engine,
  held: HeldServices,
  service: string,
  action: ServiceAction,
): Promise<string> {
  if (action !== 'stop') await held.release(service);
  const container = await serviceContainer(engine, service);
  const seconds = container.stopTimeoutSeconds ?? DEFAULT_STOP_SECONDS;
  if (action === 'restart') await engine.restartContainer(container.id, seconds);
  else if (action === 'start') await engine.startContainer(container.id);
  else {
    await held.hold(service);
    await engine.stopContainer(container.id, seconds);
  }
  return container.id;
}

export async function serviceLogs(engine: Engine, service: string, tail: number): Promise<ContainerLogLine[]> {
  const container = await serviceContainer(engine, service);
  return engine.containerLogs(container.id, { tail });
}

/**
 * Starts the host's reboot command (argv, no shell) and returns at once: the answer must leave before the host
 * goes down. A command that cannot even start is an error the caller sees.
 */
export async function runReboot(command: string[]): Promise<void> {
  const [file, ...args] = command;
  if (file === undefined) throw new LocalApiError(500, 'the reboot command is empty');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(file, args, { detached: true, stdio: 'ignore' });
    child.once('error', (err) =>
      reject(new LocalApiError(500, `cannot run the reboot command '${command.join(' ')}': ${err.message}`)),
    );
    child.once('spawn', () => {
      child.unref();
      resolve();
    });
  });
}

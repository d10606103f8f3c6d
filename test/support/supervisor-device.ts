// The device engine as a test sees it: cleaning it between tests and asking what runs there.
import type Docker from 'dockerode';
import { connectDocker } from '../../supervisor/engine.js';
import { MANAGED_FILTER } from '../../supervisor/naming.js';
import type { TestEnv } from './env.js';

export function deviceDocker(env: TestEnv): Docker {
  return connectDocker(env.deviceDockerHost);
}

/** Removes every managed container and network (and, if asked, every skiff_ volume) from the device engine. */
export async function cleanDevice(docker: Docker, options: { volumes?: boolean } = {}): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: { label: [MANAGED_FILTER] } });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true })));
  const networks = await docker.listNetworks();
  await Promise.all(networks.filter((n) => n.Name.startsWith('skiff_')).map((n) => docker.getNetwork(n.Id).remove()));
  if (options.volumes === true) {
    const { Volumes } = await docker.listVolumes();
    await Promise.all((Volumes ?? []).filter((v) => v.Name.startsWith('skiff_')).map((v) => docker.getVolume(v.Name).remove()));
  }
}

export interface RunningContainer {
  id: string;
  service: string;
  state: string;
  labels: Record<string, string>;
}

export async function managedContainers(docker: Docker): Promise<RunningContainer[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [MANAGED_FILTER] } });
  return list
    .map((c) => ({ id: c.Id, service: c.Labels['io.skiff.service'] ?? '', state: c.State, labels: c.Labels }))
    .sort((a, b) => a.service.localeCompare(b.service) || a.id.localeCompare(b.id));
}

/** Runs a command in a container and returns its exit code and output (stdout and stderr together). */
export async function execIn(docker: Docker, containerId: string, cmd: string[]): Promise<{ exitCode: number | null; output: string }> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: true });
  const stream = await exec.start({ hijack: true, stdin: false, Tty: true });
  let output = '';
  for await (const chunk of stream) output += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
  const info = await exec.inspect();
  return { exitCode: info.ExitCode, output };
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError === undefined ? '' : ` (last error: ${String(lastError)})`}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

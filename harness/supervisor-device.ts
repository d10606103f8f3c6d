// The device engine as a test sees it: cleaning it between tests and asking what runs there, through the
// supervisor's own engine client; the answers a test reads are validated like any engine answer.
import { Type, type Static } from '@sinclair/typebox';
import { parse } from '../protocol/validate.js';
import { connectEngine, type EngineClient } from '../supervisor/engine/engine.js';
import { MANAGED_FILTER } from '../supervisor/plan/naming.js';
import type { TestEnv } from './env.js';

export function deviceDocker(env: Pick<TestEnv, 'deviceDockerHost'>): EngineClient {
  return connectEngine(env.deviceDockerHost);
}

const ContainerList = Type.Array(
  Type.Object({
    Id: Type.String(),
    Names: Type.Array(Type.String()),
    Image: Type.String(),
    State: Type.String(),
    Labels: Type.Record(Type.String(), Type.String()),
  }),
);
export type ContainerSummary = Static<typeof ContainerList>[number];
const NetworkList = Type.Array(Type.Object({ Id: Type.String(), Name: Type.String() }));
const VolumeList = Type.Object({
  Volumes: Type.Union([Type.Array(Type.Object({ Name: Type.String() })), Type.Null()]),
});

const ContainerDetails = Type.Object({
  Id: Type.String(),
  Name: Type.String(),
  Config: Type.Object({
    Image: Type.String(),
    Env: Type.Array(Type.String()),
    WorkingDir: Type.String(),
    Hostname: Type.String(),
  }),
  State: Type.Object({
    Status: Type.String(),
    Running: Type.Boolean(),
    ExitCode: Type.Integer(),
    StartedAt: Type.String(),
    Health: Type.Optional(
      Type.Object({
        Status: Type.String(),
        Log: Type.Array(Type.Object({ ExitCode: Type.Integer(), End: Type.String() })),
      }),
    ),
  }),
  NetworkSettings: Type.Object({
    Networks: Type.Record(
      Type.String(),
      Type.Object({ Aliases: Type.Union([Type.Array(Type.String()), Type.Null()]) }),
    ),
    Ports: Type.Record(
      Type.String(),
      Type.Union([Type.Array(Type.Object({ HostIp: Type.String(), HostPort: Type.String() })), Type.Null()]),
    ),
  }),
  Mounts: Type.Array(Type.Object({ Type: Type.String(), Destination: Type.String(), RW: Type.Boolean() })),
});
export type ContainerDetails = Static<typeof ContainerDetails>;

const VolumeDetails = Type.Object({
  Name: Type.String(),
  Labels: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]),
});

export async function inspectContainer(docker: EngineClient, id: string): Promise<ContainerDetails> {
  return parse(ContainerDetails, await docker.json('GET', `/containers/${id}/json`), `inspection of container ${id}`);
}

export async function inspectVolume(docker: EngineClient, name: string): Promise<Static<typeof VolumeDetails>> {
  return parse(VolumeDetails, await docker.json('GET', `/volumes/${name}`), `inspection of volume ${name}`);
}

export async function listNetworks(docker: EngineClient): Promise<Static<typeof NetworkList>> {
  return parse(NetworkList, await docker.json('GET', '/networks'), 'network list');
}

/** Containers, running or not, carrying `label` (key or key=value). */
export async function containersLabelled(docker: EngineClient, label: string): Promise<ContainerSummary[]> {
  const answer = await docker.json('GET', '/containers/json', {
    query: { all: 'true', filters: JSON.stringify({ label: [label] }) },
  });
  return parse(ContainerList, answer, `list of containers labelled ${label}`);
}

/** Removes the containers (forced, with anonymous volumes), networks and volumes carrying `label`. */
export async function removeLabelled(docker: EngineClient, label: string): Promise<void> {
  const filters = JSON.stringify({ label: [label] });
  const containers = await containersLabelled(docker, label);
  await Promise.all(
    containers.map((c) => docker.json('DELETE', `/containers/${c.Id}`, { query: { force: 'true', v: 'true' } })),
  );
  const networks = parse(
    NetworkList,
    await docker.json('GET', '/networks', { query: { filters } }),
    `networks labelled ${label}`,
  );
  await Promise.all(networks.map((n) => docker.json('DELETE', `/networks/${n.Id}`)));
  const { Volumes } = parse(
    VolumeList,
    await docker.json('GET', '/volumes', { query: { filters } }),
    `volumes labelled ${label}`,
  );
  await Promise.all((Volumes ?? []).map((v) => docker.json('DELETE', `/volumes/${v.Name}`)));
}

function listManaged(docker: EngineClient): Promise<ContainerSummary[]> {
  return containersLabelled(docker, MANAGED_FILTER);
}

/** Removes every managed container and network (and, if asked, every skiff_ volume) from the device engine. */
export async function cleanDevice(docker: EngineClient, options: { volumes?: boolean } = {}): Promise<void> {
  const containers = await listManaged(docker);
  await Promise.all(
    containers.map((c) => docker.json('DELETE', `/containers/${c.Id}`, { query: { force: 'true', v: 'true' } })),
  );
  const networks = await listNetworks(docker);
  await Promise.all(
    networks.filter((n) => n.Name.startsWith('skiff_')).map((n) => docker.json('DELETE', `/networks/${n.Id}`)),
  );
  if (options.volumes === true) {
    const { Volumes } = parse(VolumeList, await docker.json('GET', '/volumes'), 'volume list');
    await Promise.all(
      (Volumes ?? [])
        .filter((v) => v.Name.startsWith('skiff_'))
        .map((v) => docker.json('DELETE', `/volumes/${v.Name}`)),
    );
  }
}

export interface RunningContainer {
  id: string;
  service: string;
  state: string;
  labels: Record<string, string>;
}

export async function managedContainers(docker: EngineClient): Promise<RunningContainer[]> {
  const list = await listManaged(docker);
  return list
    .map((c) => ({ id: c.Id, service: c.Labels['io.skiff.service'] ?? '', state: c.State, labels: c.Labels }))
    .sort((a, b) => a.service.localeCompare(b.service) || a.id.localeCompare(b.id));
}

const ExecCreated = Type.Object({ Id: Type.String() });
const ExecDetails = Type.Object({ ExitCode: Type.Union([Type.Integer(), Type.Null()]) });

/** Runs a command in a container and returns its exit code and output (stdout and stderr together). */
export async function execIn(
  docker: EngineClient,
  containerId: string,
  cmd: string[],
): Promise<{ exitCode: number | null; output: string }> {
  const created = await docker.json('POST', `/containers/${containerId}/exec`, {
    body: { Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: true },
  });
  const { Id } = parse(ExecCreated, created, `exec created in ${containerId}`);
  // With a TTY the output is one raw stream, which the engine sends until the command ends and closes.
  const stream = await docker.stream('POST', `/exec/${Id}/start`, { body: { Detach: false, Tty: true } });
  let output = '';
  for await (const chunk of stream) output += (chunk as Buffer).toString('utf8');
  const info = parse(ExecDetails, await docker.json('GET', `/exec/${Id}/json`), `exec ${Id} in ${containerId}`);
  return { exitCode: info.ExitCode, output };
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
  everyMs = 200,
): Promise<T> {
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
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError === undefined ? '' : ` (last error: ${String(lastError)})`}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// The container engine as the supervisor sees it: a small interface in engine terms, and its Docker Engine
// implementation. Every mutation is idempotent ("already exists", "not found", "not modified" count as done),
// because the reconciler may repeat any step after a crash or a lost answer.
import Docker from 'dockerode';
import type { Logger } from '../lib/logger.js';
import { readJsonLines } from './json-lines.js';

export type ContainerCreateOptions = Docker.ContainerCreateOptions;

export type ContainerRunState = 'created' | 'running' | 'restarting' | 'exited' | 'paused' | 'dead' | 'removing';
export type ContainerHealth = 'healthy' | 'unhealthy' | 'starting';

export interface EngineContainer {
  id: string;
  /** Without the leading slash the engine puts there. */
  name: string;
  labels: Record<string, string>;
  image: string;
  state: ContainerRunState;
  health: ContainerHealth | null;
  /** Only for containers that ran and ended. */
  exitCode: number | null;
  createdAt: string;
  /** Names of the networks the container is attached to (also while stopped). */
  networks: string[];
  /** The container's own stop grace, if it was created with one. */
  stopTimeoutSeconds: number | null;
}

export interface EngineNetwork {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** Containers with an endpoint on the network, as the engine counts them. */
  containerCount: number;
}

export interface Engine {
  /** Containers (running or not) carrying the label `filter` (key=value). */
  listContainers(filter: string): Promise<EngineContainer[]>;
  hasImage(ref: string): Promise<boolean>;
  pullImage(ref: string): Promise<void>;
  /** Creates the container, or finds the one of that name; attaches every network of NetworkingConfig. */
  createContainer(name: string, options: ContainerCreateOptions): Promise<string>;
  startContainer(id: string): Promise<void>;
  stopContainer(id: string, timeoutSeconds: number): Promise<void>;
  /** Removes the container and its anonymous volumes (named volumes stay). */
  removeContainer(id: string): Promise<void>;
  /** Every network, managed or not (a name the target wants may already be taken). */
  listNetworks(): Promise<EngineNetwork[]>;
  createNetwork(name: string, labels: Record<string, string>): Promise<void>;
  removeNetwork(id: string): Promise<void>;
  listVolumes(): Promise<string[]>;
  createVolume(name: string, labels: Record<string, string>): Promise<void>;
}

/** Connection options for a DOCKER_HOST-style address (unix:///path or tcp://host:port). */
export function dockerOptions(host: string | undefined): Docker.DockerOptions {
  if (host === undefined || host === '') return {};
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('tcp://') || host.startsWith('http://')) {
    const url = new URL(host.replace(/^tcp:/, 'http:'));
    return { protocol: 'http', host: url.hostname, port: url.port || '2375' };
  }
  throw new Error(`unsupported docker host '${host}': use unix:///path or tcp://host:port`);
}

export function connectDocker(host: string | undefined): Docker {
  return new Docker(dockerOptions(host));
}

function statusCodeOf(err: unknown): number | undefined {
  if (err !== null && typeof err === 'object' && 'statusCode' in err) {
    const code = (err as { statusCode: unknown }).statusCode;
    return typeof code === 'number' ? code : undefined;
  }
  return undefined;
}

/** Runs `op`, treating the listed engine answers as success (the desired end state already holds). */
async function tolerating<T>(codes: number[], op: () => Promise<T>): Promise<T | undefined> {
  try {
    return await op();
  } catch (err) {
    const code = statusCodeOf(err);
    if (code !== undefined && codes.includes(code)) return undefined;
    throw err;
  }
}

const RUN_STATES: readonly ContainerRunState[] = ['created', 'running', 'restarting', 'exited', 'paused', 'dead', 'removing'];

function runStateOf(status: string): ContainerRunState {
  const state = RUN_STATES.find((s) => s === status);
  // An engine state this code does not know is treated like a dead container: replaced, never trusted.
  return state ?? 'dead';
}

function healthOf(status: string | undefined): ContainerHealth | null {
  return status === 'healthy' || status === 'unhealthy' || status === 'starting' ? status : null;
}

export class DockerEngine implements Engine {
  constructor(private readonly docker: Docker, private readonly log: Logger) {}

  async listContainers(filter: string): Promise<EngineContainer[]> {
    const summaries = await this.docker.listContainers({ all: true, filters: { label: [filter] } });
    const found = await Promise.all(summaries.map((s) => this.inspectContainer(s.Id)));
    return found.filter((c): c is EngineContainer => c !== undefined);
  }

  /** Undefined when the container vanished between listing and inspection. */
  private async inspectContainer(id: string): Promise<EngineContainer | undefined> {
    const info = await tolerating([404], () => this.docker.getContainer(id).inspect());
    if (info === undefined) return undefined;
    const state = runStateOf(info.State.Status);
    const ended = state === 'exited' || state === 'dead';
    const stopTimeout = (info.Config as { StopTimeout?: number }).StopTimeout;
    return {
      id: info.Id,
      name: info.Name.replace(/^\//, ''),
      labels: info.Config.Labels ?? {},
      image: info.Config.Image,
      state,
      health: healthOf(info.State.Health?.Status),
      exitCode: ended ? info.State.ExitCode : null,
      createdAt: info.Created,
      networks: Object.keys(info.NetworkSettings.Networks ?? {}).sort(),
      stopTimeoutSeconds: typeof stopTimeout === 'number' ? stopTimeout : null,
    };
  }

  async hasImage(ref: string): Promise<boolean> {
    return (await tolerating([404], () => this.docker.getImage(ref).inspect())) !== undefined;
  }

  async pullImage(ref: string): Promise<void> {
    const started = Date.now();
    // fromImage carries the digest; a separate tag would make the engine pull a tag instead.
    const stream = await this.docker.createImage({ fromImage: ref });
    const layers = new Set<string>();
    await readJsonLines(stream, (event) => {
      if (typeof event.id === 'string' && event.status === 'Pull complete') layers.add(event.id);
    });
    this.log.debug({ image: ref, layers: layers.size, ms: Date.now() - started }, 'image pulled');
  }

  async createContainer(name: string, options: ContainerCreateOptions): Promise<string> {
    // API 1.41 accepts one endpoint at create time; the others are connected before the first start.
    const endpoints = Object.entries(options.NetworkingConfig?.EndpointsConfig ?? {});
    const primary = options.HostConfig?.NetworkMode;
    const atCreate = endpoints.filter(([network]) => network === primary);
    const later = endpoints.filter(([network]) => network !== primary);
    let id: string;
    try {
      const created = await this.docker.createContainer({
        ...options,
        name,
        NetworkingConfig: { EndpointsConfig: Object.fromEntries(atCreate) },
      });
      id = created.id;
    } catch (err) {
      if (statusCodeOf(err) !== 409) throw err;
      // A create whose answer was lost, or a retried step: the name is unique to this config.
      id = (await this.docker.getContainer(name).inspect()).Id;
    }
    for (const [network, endpoint] of later) {
      try {
        await this.docker.getNetwork(network).connect({ Container: id, EndpointConfig: endpoint });
      } catch (err) {
        const code = statusCodeOf(err);
        const already = (code === 403 || code === 409) && /already exists/i.test(String(err));
        if (!already) throw err;
      }
    }
    return id;
  }

  async startContainer(id: string): Promise<void> {
    await tolerating([304], () => this.docker.getContainer(id).start());
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    await tolerating([304, 404], () => this.docker.getContainer(id).stop({ t: timeoutSeconds }));
  }

  async removeContainer(id: string): Promise<void> {
    await tolerating([404], () => this.docker.getContainer(id).remove({ v: true }));
  }

  async listNetworks(): Promise<EngineNetwork[]> {
    const networks = await this.docker.listNetworks();
    const inspected = await Promise.all(networks.map((n) =>
      tolerating([404], () => this.docker.getNetwork(n.Id).inspect() as Promise<Docker.NetworkInspectInfo>)));
    return inspected
      .filter((n): n is Docker.NetworkInspectInfo => n !== undefined)
      .map((n) => ({
        id: n.Id,
        name: n.Name,
        labels: n.Labels ?? {},
        containerCount: Object.keys(n.Containers ?? {}).length,
      }));
  }

  async createNetwork(name: string, labels: Record<string, string>): Promise<void> {
    // Without CheckDuplicate the engine happily creates a second network of the same name.
    await tolerating([409], () => this.docker.createNetwork({ Name: name, Driver: 'bridge', CheckDuplicate: true, Labels: labels }));
  }

  async removeNetwork(id: string): Promise<void> {
    await tolerating([404], () => this.docker.getNetwork(id).remove());
  }

  async listVolumes(): Promise<string[]> {
    const answer = await this.docker.listVolumes();
    return (answer.Volumes ?? []).map((v) => v.Name).sort();
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<void> {
    // The engine answers an existing name with the existing volume: idempotent by itself.
    await this.docker.createVolume({ Name: name, Labels: labels });
  }
}

export function dockerEngine(host: string | undefined, log: Logger): Engine {
  return new DockerEngine(connectDocker(host), log);
}

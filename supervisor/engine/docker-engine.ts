// The Engine interface on a Docker Engine, spoken to through client.ts. Answers are validated against
// schemas.ts before use; mutations treat the engine's "already so" answers as done.
import { statfs } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { parse } from '../../protocol/validate.js';
import type { Logger } from '../../lib/logger.js';
import type { ContainerHealth, ContainerRunState, Engine, EngineContainer, EngineNetwork } from './engine.js';
import { statusCodeOf, type EngineClient } from './client.js';
import { parseLogFrames } from './log-frames.js';
import {
  ContainerCreated,
  ContainerInspect,
  ContainerSummaries,
  ImageDeleteResults,
  ImageInspect,
  ImageSummaries,
  ImageUsers,
  NetworkInspect,
  NetworkSummaries,
  SystemDiskUsage,
  SystemInfo,
  DiagnosticInfo,
  VolumeList,
} from './schemas.js';
import type {
  ContainerCreateOptions,
  ContainerLogLine,
  DataRootSpace,
  EngineDiskUsage,
  EngineImage,
  EngineImageSummary,
  ImageRemoval,
  LogOptions,
  PullProgress,
  NetworkCreateOptions,
  RegistryAuth,
  VolumeCreateOptions,
} from './create-options.js';
import { readJsonLines } from './json-lines.js';

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

const RUN_STATES: readonly ContainerRunState[] = [
  'created',
  'running',
  'restarting',
  'exited',
  'paused',
  'dead',
  'removing',
];

function runStateOf(status: string): ContainerRunState {
  const state = RUN_STATES.find((s) => s === status);
  // An engine state this code does not know is treated like a dead container: replaced, never trusted.
  return state ?? 'dead';
}

function healthOf(status: string | undefined): ContainerHealth | null {
  return status === 'healthy' || status === 'unhealthy' || status === 'starting' ? status : null;
}

/** Ids, names and references go into the path as they are ('/' and ':' included); the engine routes on them. */
function seg(value: string): string {
  return encodeURI(value).replace(/[?#]/g, encodeURIComponent);
}

function registryAuthHeader(auth: RegistryAuth): string {
  // URL-safe alphabet WITH padding: Engine 20.10 fails to decode unpadded base64url and then pulls anonymously.
  return Buffer.from(JSON.stringify(auth)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

function sum(values: (number | undefined)[]): number {
  // The engine reports -1 for a size it did not compute.
  return values.reduce<number>((total, v) => total + (v !== undefined && v > 0 ? v : 0), 0);
}

export class DockerEngine implements Engine {
  constructor(
    readonly client: EngineClient,
    private readonly log: Logger,
  ) {}

  private async get<T extends Parameters<typeof parse>[0]>(schema: T, path: string, query?: Record<string, string>) {
    return parse(schema, await this.client.json('GET', path, { query }), `engine answer to GET ${path}`);
  }

  async listContainers(filter: string): Promise<EngineContainer[]> {
    const summaries = await this.get(ContainerSummaries, '/containers/json', {
      all: 'true',
      filters: JSON.stringify({ label: [filter] }),
    });
    const found = await Promise.all(summaries.map((s) => this.inspectContainer(s.Id)));
    return found.filter((c): c is EngineContainer => c !== undefined);
  }

  /** Undefined when the container vanished between listing and inspection. */
  private async inspectContainer(id: string): Promise<EngineContainer | undefined> {
    const info = await tolerating([404], () => this.get(ContainerInspect, `/containers/${seg(id)}/json`));
    if (info === undefined) return undefined;
    const state = runStateOf(info.State.Status);
    const ended = state === 'exited' || state === 'dead';
    return {
      id: info.Id,
      name: info.Name.replace(/^\//, ''),
      labels: info.Config.Labels ?? {},
      image: info.Config.Image,
      state,
      health: healthOf(info.State.Health?.Status),
      exitCode: ended ? info.State.ExitCode : null,
      restartCount: info.RestartCount ?? 0,
      createdAt: info.Created,
      networks: Object.keys(info.NetworkSettings.Networks ?? {}).sort(),
      stopTimeoutSeconds: info.Config.StopTimeout ?? null,
    };
  }

  async hasImage(ref: string): Promise<boolean> {
    return (await this.inspectImage(ref)) !== undefined;
  }

  async inspectImage(ref: string): Promise<EngineImage | undefined> {
    const info = await tolerating([404], () => this.get(ImageInspect, `/images/${seg(ref)}/json`));
    if (info === undefined) return undefined;
    return {
      id: info.Id,
      repoTags: info.RepoTags ?? [],
      repoDigests: info.RepoDigests ?? [],
      size: info.Size,
      createdAt: info.Created,
      diffIds: info.RootFS.Layers ?? [],
    };
  }

  async listImages(): Promise<EngineImageSummary[]> {
    const images = await this.get(ImageSummaries, '/images/json');
    return images.map((i) => ({
      id: i.Id,
      // The engine lists untagged images with the placeholder '<none>:<none>' / '<none>@<none>'.
      repoTags: (i.RepoTags ?? []).filter((t) => !t.startsWith('<none>')),
      repoDigests: (i.RepoDigests ?? []).filter((d) => !d.startsWith('<none>')),
      size: i.Size,
      created: i.Created,
      labels: i.Labels ?? {},
    }));
  }

  async pullImage(ref: string, auth?: RegistryAuth, onProgress?: (progress: PullProgress) => void): Promise<void> {
    const started = Date.now();
    const headers = auth === undefined ? undefined : { 'X-Registry-Auth': registryAuthHeader(auth) };
    // fromImage carries the digest; a separate tag would make the engine pull a tag instead.
    const stream = await this.client.stream('POST', '/images/create', { query: { fromImage: ref }, headers });
    const layers = new Set<string>();
    try {
      await readJsonLines(stream, (event) => {
        if (typeof event.id === 'string' && event.status === 'Pull complete') layers.add(event.id);
        if (onProgress !== undefined && typeof event.status === 'string') {
          onProgress({
            ...(typeof event.id === 'string' ? { layer: event.id } : {}),
            status: event.status,
            ...(typeof event.progressDetail?.current === 'number' ? { current: event.progressDetail.current } : {}),
            ...(typeof event.progressDetail?.total === 'number' ? { total: event.progressDetail.total } : {}),
          });
        }
      });
    } catch (err) {
      throw new Error(`pull of ${ref} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.log.debug({ image: ref, layers: layers.size, ms: Date.now() - started }, 'image pulled');
  }

  async removeImage(ref: string): Promise<ImageRemoval> {
    try {
      parse(
        ImageDeleteResults,
        await this.client.json('DELETE', `/images/${seg(ref)}`),
        `engine answer to DELETE /images/${ref}`,
      );
      return 'removed';
    } catch (err) {
      const code = statusCodeOf(err);
      if (code === 404) return 'absent';
      if (code !== 409) throw err;
      if (!/multiple repositories/i.test(String(err))) {
        this.log.debug({ image: ref, err: String(err) }, 'image in use, kept');
        return 'in-use';
      }
    }
    // An id with several references: the engine wants force, which would also take an image a container uses.
    // So check for users first, then drop each reference; the last one takes the image.
    const image = await this.inspectImage(ref);
    if (image === undefined) return 'absent';
    const containers = parse(
      ImageUsers,
      await this.client.json('GET', '/containers/json', { query: { all: 'true' } }),
      'engine answer to GET /containers/json',
    );
    if (containers.some((c) => c.ImageID === image.id)) return 'in-use';
    let outcome: ImageRemoval = 'absent';
    for (const name of [...image.repoTags, ...image.repoDigests]) {
      const removed = await this.removeImage(name);
      if (removed === 'in-use') return removed;
      if (removed === 'removed') outcome = 'removed';
    }
    return outcome;
  }

  async diskUsage(): Promise<EngineDiskUsage> {
    const df = await this.get(SystemDiskUsage, '/system/df');
    return {
      imagesBytes: sum([df.LayersSize]),
      containersBytes: sum((df.Containers ?? []).map((c) => c.SizeRw)),
      volumesBytes: sum((df.Volumes ?? []).map((v) => v.UsageData?.Size)),
      buildCacheBytes: sum((df.BuildCache ?? []).map((b) => b.Size)),
    };
  }

  async architecture(): Promise<string | undefined> {
    return (await this.get(SystemInfo, '/info')).Architecture;
  }

  async info(): Promise<Record<string, unknown>> {
    const info = await this.get(DiagnosticInfo, '/info');
    // Only the fields named in the schema: the engine's answer holds far more (registry mirrors, plugins...).
    return Object.fromEntries(
      Object.keys(DiagnosticInfo.properties).map((key) => [key, info[key as keyof typeof info]]),
    );
  }

  async dataRootSpace(): Promise<DataRootSpace | undefined> {
    if (!this.client.local) return undefined;
    const { DockerRootDir } = await this.get(SystemInfo, '/info');
    try {
      const stats = await statfs(DockerRootDir);
      return { path: DockerRootDir, freeBytes: stats.bavail * stats.bsize, totalBytes: stats.blocks * stats.bsize };
    } catch (err) {
      // An engine in another mount namespace (or a rootless one) reports a path this process cannot see.
      this.log.warn({ path: DockerRootDir, err: String(err) }, 'engine data root not visible here');
      return undefined;
    }
  }

  async saveImages(refs: string[]): Promise<Readable> {
    if (refs.length === 0) throw new Error('saveImages needs at least one image reference');
    return this.client.stream('GET', '/images/get', { query: { names: refs } });
  }

  async loadImage(tar: Readable): Promise<string[]> {
    const stream = await this.client.stream('POST', '/images/load', {
      query: { quiet: '1' },
      body: tar,
      contentType: 'application/x-tar',
    });
    const loaded: string[] = [];
    try {
      await readJsonLines(stream, (event) => {
        const match = /^Loaded image(?: ID)?: (.+)$/.exec(event.stream?.trim() ?? '');
        if (match !== null) loaded.push(match[1]!);
      });
    } catch (err) {
      throw new Error(`image load failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    return loaded;
  }

  async createContainer(name: string, options: ContainerCreateOptions): Promise<string> {
    // API 1.41 accepts one endpoint at create time; the others are connected before the first start.
    const endpoints = Object.entries(options.NetworkingConfig?.EndpointsConfig ?? {});
    const primary = options.HostConfig?.NetworkMode;
    const atCreate = endpoints.filter(([network]) => network === primary);
    const later = endpoints.filter(([network]) => network !== primary);
    let id: string;
    try {
      const created = await this.client.json('POST', '/containers/create', {
        query: { name },
        body: { ...options, NetworkingConfig: { EndpointsConfig: Object.fromEntries(atCreate) } },
      });
      id = parse(ContainerCreated, created, `engine answer to creating container ${name}`).Id;
    } catch (err) {
      if (statusCodeOf(err) !== 409) throw err;
      // A create whose answer was lost, or a retried step: the name is unique to this config.
      id = (await this.get(ContainerInspect, `/containers/${seg(name)}/json`)).Id;
    }
    for (const [network, endpoint] of later) {
      try {
        await this.client.json('POST', `/networks/${seg(network)}/connect`, {
          body: { Container: id, EndpointConfig: endpoint },
        });
      } catch (err) {
        const code = statusCodeOf(err);
        const already = (code === 403 || code === 409) && /already exists/i.test(String(err));
        if (!already) throw err;
      }
    }
    return id;
  }

  async startContainer(id: string): Promise<void> {
    await tolerating([304], () => this.client.json('POST', `/containers/${seg(id)}/start`));
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    await tolerating([304, 404], () =>
      this.client.json('POST', `/containers/${seg(id)}/stop`, { query: { t: timeoutSeconds } }),
    );
  }

  async restartContainer(id: string, timeoutSeconds: number): Promise<void> {
    await this.client.json('POST', `/containers/${seg(id)}/restart`, { query: { t: timeoutSeconds } });
  }

  async removeContainer(id: string): Promise<void> {
    await tolerating([404], () => this.client.json('DELETE', `/containers/${seg(id)}`, { query: { v: 'true' } }));
  }

  async containerLogs(id: string, options: LogOptions = {}): Promise<ContainerLogLine[]> {
    const info = await this.get(ContainerInspect, `/containers/${seg(id)}/json`);
    const since = options.since instanceof Date ? (options.since.getTime() / 1000).toFixed(3) : options.since;
    const stream = await this.client.stream('GET', `/containers/${seg(id)}/logs`, {
      query: { stdout: '1', stderr: '1', timestamps: '1', tail: options.tail ?? 'all', since },
    });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return parseLogFrames(Buffer.concat(chunks), info.Config.Tty === true);
  }

  async listNetworks(): Promise<EngineNetwork[]> {
    const networks = await this.get(NetworkSummaries, '/networks');
    const inspected = await Promise.all(
      networks.map((n) => tolerating([404], () => this.get(NetworkInspect, `/networks/${seg(n.Id)}`))),
    );
    return inspected
      .filter((n) => n !== undefined)
      .map((n) => ({
        id: n.Id,
        name: n.Name,
        labels: n.Labels ?? {},
        containerCount: Object.keys(n.Containers ?? {}).length,
      }));
  }

  async createNetwork(name: string, labels: Record<string, string>, options: NetworkCreateOptions = {}): Promise<void> {
    // Without CheckDuplicate the engine happily creates a second network of the same name.
    await tolerating([409], () =>
      this.client.json('POST', '/networks/create', {
        body: { ...options, Name: name, Driver: options.Driver ?? 'bridge', CheckDuplicate: true, Labels: labels },
      }),
    );
  }

  async removeNetwork(id: string): Promise<void> {
    await tolerating([404], () => this.client.json('DELETE', `/networks/${seg(id)}`));
  }

  async listVolumes(): Promise<string[]> {
    const answer = await this.get(VolumeList, '/volumes');
    return (answer.Volumes ?? []).map((v) => v.Name).sort();
  }

  async createVolume(name: string, labels: Record<string, string>, options: VolumeCreateOptions = {}): Promise<void> {
    // The engine answers an existing name with the existing volume: idempotent by itself.
    await this.client.json('POST', '/volumes/create', { body: { ...options, Name: name, Labels: labels } });
  }
}

// An Engine that records every call it forwards (what, when it started, how long it took), so the bench can show
// where a convergence spends its time: reads versus writes, parallel versus one after another.
import type { Readable } from 'node:stream';
import type {
  ContainerCreateOptions,
  ContainerLogLine,
  DataRootSpace,
  Engine,
  EngineContainer,
  EngineDiskUsage,
  EngineImage,
  EngineImageSummary,
  EngineNetwork,
  ImageRemoval,
  LogOptions,
  PullProgress,
  RegistryAuth,
} from '../../supervisor/engine/engine.js';
import { round } from './stats.js';

export interface EngineCall {
  call: string;
  /** Milliseconds since the recording began. */
  startMs: number;
  ms: number;
}

export class TimedEngine implements Engine {
  private calls: EngineCall[] = [];
  private origin = performance.now();

  constructor(private readonly inner: Engine) {}

  /** Starts a new recording. */
  reset(): void {
    this.calls = [];
    this.origin = performance.now();
  }

  recorded(): EngineCall[] {
    return [...this.calls].sort((a, b) => a.startMs - b.startMs);
  }

  private async timed<T>(call: string, op: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await op();
    } finally {
      this.calls.push({ call, startMs: round(started - this.origin, 1), ms: round(performance.now() - started, 1) });
    }
  }

  listContainers(filter: string): Promise<EngineContainer[]> {
    return this.timed('listContainers', () => this.inner.listContainers(filter));
  }
  hasImage(ref: string): Promise<boolean> {
    return this.timed('hasImage', () => this.inner.hasImage(ref));
  }
  pullImage(ref: string, auth?: RegistryAuth, onProgress?: (progress: PullProgress) => void): Promise<void> {
    return this.timed('pullImage', () => this.inner.pullImage(ref, auth, onProgress));
  }
  inspectImage(ref: string): Promise<EngineImage | undefined> {
    return this.timed('inspectImage', () => this.inner.inspectImage(ref));
  }
  listImages(): Promise<EngineImageSummary[]> {
    return this.timed('listImages', () => this.inner.listImages());
  }
  removeImage(ref: string): Promise<ImageRemoval> {
    return this.timed('removeImage', () => this.inner.removeImage(ref));
  }
  diskUsage(): Promise<EngineDiskUsage> {
    return this.timed('diskUsage', () => this.inner.diskUsage());
  }
  dataRootSpace(): Promise<DataRootSpace | undefined> {
    return this.timed('dataRootSpace', () => this.inner.dataRootSpace());
  }
  saveImages(refs: string[]): Promise<Readable> {
    return this.timed('saveImages', () => this.inner.saveImages(refs));
  }
  loadImage(tar: Readable): Promise<string[]> {
    return this.timed('loadImage', () => this.inner.loadImage(tar));
  }
  restartContainer(id: string, timeoutSeconds: number): Promise<void> {
    return this.timed(`restartContainer ${id.slice(0, 12)}`, () => this.inner.restartContainer(id, timeoutSeconds));
  }
  containerLogs(id: string, options?: LogOptions): Promise<ContainerLogLine[]> {
    return this.timed(`containerLogs ${id.slice(0, 12)}`, () => this.inner.containerLogs(id, options));
  }
  createContainer(name: string, options: ContainerCreateOptions): Promise<string> {
    return this.timed(`createContainer ${name}`, () => this.inner.createContainer(name, options));
  }
  startContainer(id: string): Promise<void> {
    return this.timed(`startContainer ${id.slice(0, 12)}`, () => this.inner.startContainer(id));
  }
  stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    return this.timed(`stopContainer ${id.slice(0, 12)}`, () => this.inner.stopContainer(id, timeoutSeconds));
  }
  removeContainer(id: string): Promise<void> {
    return this.timed(`removeContainer ${id.slice(0, 12)}`, () => this.inner.removeContainer(id));
  }
  listNetworks(): Promise<EngineNetwork[]> {
    return this.timed('listNetworks', () => this.inner.listNetworks());
  }
  createNetwork(name: string, labels: Record<string, string>): Promise<void> {
    return this.timed(`createNetwork ${name}`, () => this.inner.createNetwork(name, labels));
  }
  removeNetwork(id: string): Promise<void> {
    return this.timed(`removeNetwork ${id.slice(0, 12)}`, () => this.inner.removeNetwork(id));
  }
  listVolumes(): Promise<string[]> {
    return this.timed('listVolumes', () => this.inner.listVolumes());
  }
  createVolume(name: string, labels: Record<string, string>): Promise<void> {
    return this.timed(`createVolume ${name}`, () => this.inner.createVolume(name, labels));
  }
}

// The container engine as the supervisor sees it: a small interface in engine terms. Its Docker Engine
// implementation is docker-engine.ts. Every mutation is idempotent ("already exists", "not found", "not modified"
// count as done), because the reconciler may repeat any step after a crash or a lost answer.
import type { Readable } from 'node:stream';
import type { Logger } from '../../lib/logger.js';
import { DockerEngine } from './docker-engine.js';
import { EngineClient } from './client.js';
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
import type { ContainerHealth, ContainerRunState } from '../plan/observed.js';

export type * from './create-options.js';
// The planner's names for a container's state, which the engine's listing reports in.
export type { ContainerHealth, ContainerRunState } from '../plan/observed.js';
export { DockerEngine } from './docker-engine.js';
export { EngineClient, EngineError, engineAddress } from './client.js';

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
  /** How often the engine restarted it (its restart policy) since it was created; absent: not known. */
  restartCount?: number;
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
  /** The machine the engine runs on as uname -m names it (aarch64, armv7l, x86_64); absent: the engine cannot say. */
  architecture?(): Promise<string | undefined>;
  /** Containers (running or not) carrying the label `filter` (key=value). */
  listContainers(filter: string): Promise<EngineContainer[]>;
  hasImage(ref: string): Promise<boolean>;
  /** Pulls by reference (a digest reference pulls exactly that); fails with the engine's message. */
  pullImage(ref: string, auth?: RegistryAuth, onProgress?: (progress: PullProgress) => void): Promise<void>;
  /** Undefined when the engine has no such image. */
  inspectImage(ref: string): Promise<EngineImage | undefined>;
  listImages(): Promise<EngineImageSummary[]>;
  /**
   * Removes an image by id or reference, never forced: an image a container uses stays ('in-use'). An id with
   * several references loses them all, then the image goes.
   */
  removeImage(ref: string): Promise<ImageRemoval>;
  /** Bytes used by images, containers, volumes and build cache. */
  diskUsage(): Promise<EngineDiskUsage>;
  /** Free and total bytes where the engine keeps its data; undefined when the engine is not on this host. */
  dataRootSpace(): Promise<DataRootSpace | undefined>;
  /** What diagnostics show of the engine (version, OS, kernel, storage driver, counts); absent on test engines. */
  info?(): Promise<Record<string, unknown>>;
  /** A `docker save` tar of the images (GET /images/get); an unknown reference fails before any byte. */
  saveImages(refs: string[]): Promise<Readable>;
  /** Loads a `docker load` tar; returns what the engine says it loaded (image ids or references). */
  loadImage(tar: Readable): Promise<string[]>;
  /** Creates the container, or finds the one of that name; attaches every network of NetworkingConfig. */
  createContainer(name: string, options: ContainerCreateOptions): Promise<string>;
  startContainer(id: string): Promise<void>;
  stopContainer(id: string, timeoutSeconds: number): Promise<void>;
  restartContainer(id: string, timeoutSeconds: number): Promise<void>;
  /** Removes the container and its anonymous volumes (named volumes stay). */
  removeContainer(id: string): Promise<void>;
  /** The container's output so far, stdout and stderr, oldest first. */
  containerLogs(id: string, options?: LogOptions): Promise<ContainerLogLine[]>;
  /** Every network, managed or not (a name the target wants may already be taken). */
  listNetworks(): Promise<EngineNetwork[]>;
  /** Options absent: a bridge network with the engine's defaults. */
  createNetwork(name: string, labels: Record<string, string>, options?: NetworkCreateOptions): Promise<void>;
  removeNetwork(id: string): Promise<void>;
  listVolumes(): Promise<string[]>;
  createVolume(name: string, labels: Record<string, string>, options?: VolumeCreateOptions): Promise<void>;
}

/** A client for the engine at a DOCKER_HOST-style address (unix:///path or tcp://host:port; default socket). */
export function connectEngine(host: string | undefined): EngineClient {
  return new EngineClient(host);
}

export function dockerEngine(host: string | undefined, log: Logger): Engine {
  return new DockerEngine(connectEngine(host), log);
}

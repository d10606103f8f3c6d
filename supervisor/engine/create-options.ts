// The engine's own shapes besides the create options (those are the planner's, ../plan/create-options.ts, and
// re-exported here so engine users find every engine type in one place).
export type * from '../plan/create-options.js';

/** Credentials for one registry, sent to the engine as X-Registry-Auth on a pull. */
export interface RegistryAuth {
  username: string;
  password: string;
  /** host[:port] of the registry, as in the image reference. */
  serveraddress: string;
}

/** One line of a pull's progress, as the engine sends it. */
export interface PullProgress {
  /** Layer (short id) the line is about; absent for lines about the whole image. */
  layer?: string;
  status: string;
  /** Bytes done and expected of the layer's download or extraction, when the engine says. */
  current?: number;
  total?: number;
}

export interface EngineImage {
  /** sha256:... */
  id: string;
  repoTags: string[];
  /** REPO@sha256:... references the image was pulled or pushed by. */
  repoDigests: string[];
  /** Bytes on disk, as the engine counts them (shared layers counted in full). */
  size: number;
  createdAt: string;
  /** The uncompressed layer digests (config rootfs.diff_ids), base layer first. */
  diffIds: string[];
}

export interface EngineImageSummary {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
  /** Seconds since the epoch. */
  created: number;
  labels: Record<string, string>;
}

/** What removing an image came to; `in-use`: a container (running or not) still uses it, nothing was removed. */
export type ImageRemoval = 'removed' | 'absent' | 'in-use';

/** Bytes the engine uses, from GET /system/df. */
export interface EngineDiskUsage {
  imagesBytes: number;
  containersBytes: number;
  volumesBytes: number;
  buildCacheBytes: number;
}

/** The filesystem that holds the engine's data root (images, containers, volumes). */
export interface DataRootSpace {
  path: string;
  freeBytes: number;
  totalBytes: number;
}

export interface LogOptions {
  /** Last N lines only. */
  tail?: number;
  /** Only lines at or after this time (seconds since the epoch, or a Date). */
  since?: number | Date;
}

export interface ContainerLogLine {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds, as the engine stamps it. */
  timestamp: string;
  /** The line without its newline. */
  text: string;
}

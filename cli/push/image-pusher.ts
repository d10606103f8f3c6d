// Pushes one built image to the registry and finds the digest the registry stored it under, showing progress
// per layer in bytes at most once per interval (plus each layer's final state), so a push reads as a few lines.
import type Docker from 'dockerode';
import { formatBytes } from '../views/output.js';
import { readProgressStream } from './engine.js';
import { isDigestReference, parseDigestReference } from '../../protocol/image-reference.js';

export const DEFAULT_PROGRESS_INTERVAL_MS = 2000;
const DIGEST = /sha256:[a-f0-9]{64}/;

interface PushEvent {
  status?: unknown;
  id?: unknown;
  progressDetail?: { current?: unknown; total?: unknown };
  aux?: { Digest?: unknown };
  error?: unknown;
  errorDetail?: { message?: unknown };
}

function asPushEvent(event: unknown): PushEvent {
  return typeof event === 'object' && event !== null ? (event as PushEvent) : {};
}

/** Reads the engine's push stream; pure, with time passed in, so the throttling is testable. */
export class PushTracker {
  digest: string | null = null;
  error: string | null = null;
  private readonly lastShown = new Map<string, number>();
  private readonly layerBytes = new Map<string, number>();
  private layersPushed = 0;
  private layersPresent = 0;

  constructor(private readonly intervalMs: number = DEFAULT_PROGRESS_INTERVAL_MS) {}

  feed(raw: unknown, nowMs: number): string[] {
    const event = asPushEvent(raw);
    if (typeof event.aux?.Digest === 'string' && DIGEST.test(event.aux.Digest)) this.digest = event.aux.Digest;
    const error =
      typeof event.errorDetail?.message === 'string'
        ? event.errorDetail.message
        : typeof event.error === 'string'
          ? event.error
          : null;
    if (error !== null) {
      this.error = error.trim();
      return [];
    }
    const status = typeof event.status === 'string' ? event.status : null;
    if (status === null) return [];
    const id = typeof event.id === 'string' ? event.id : null;
    if (id === null) {
      // "<tag>: digest: sha256:... size: N" is the last status line; older engines send no aux.
      const found = /digest: (sha256:[a-f0-9]{64})/.exec(status);
      if (found && this.digest === null) this.digest = found[1]!;
      return [];
    }
    switch (status) {
      case 'Pushing': {
        const current = Number(event.progressDetail?.current);
        const total = Number(event.progressDetail?.total);
        if (Number.isFinite(total) && total > 0) this.layerBytes.set(id, total);
        const last = this.lastShown.get(id);
        if (last !== undefined && nowMs - last < this.intervalMs) return [];
        this.lastShown.set(id, nowMs);
        if (!Number.isFinite(current)) return [`${id}: pushing`];
        if (!(Number.isFinite(total) && total > 0)) return [`${id}: pushing ${formatBytes(current)}`];
        // The engine counts compressed bytes sent against the uncompressed size: clamp so it never reads 512 B / 9 B.
        return [`${id}: pushing ${formatBytes(Math.min(current, total))} / ${formatBytes(total)}`];
      }
      case 'Pushed':
        this.layersPushed += 1;
        return [`${id}: pushed${this.layerBytes.has(id) ? ` ${formatBytes(this.layerBytes.get(id)!)}` : ''}`];
      case 'Layer already exists':
        this.layersPresent += 1;
        return [`${id}: already in the registry`];
      default:
        if (status.startsWith('Mounted from')) {
          this.layersPresent += 1;
          return [`${id}: ${status.toLowerCase()}`];
        }
        return [];
    }
  }

  summary(): string {
    const bytes = [...this.layerBytes.values()].reduce((a, b) => a + b, 0);
    return `${this.layersPushed} layer(s) pushed (${formatBytes(bytes)}), ${this.layersPresent} already there`;
  }
}

/** The registry digest of `repository` among an image's RepoDigests ("repo@sha256:..."), if any. */
export function digestFromRepoDigests(repoDigests: string[] | undefined, repository: string): string | null {
  for (const ref of repoDigests ?? []) {
    if (!isDigestReference(ref)) continue;
    const { name, digest } = parseDigestReference(ref);
    if (name === repository) return digest;
  }
  return null;
}

/**
 * What the engine logs in to the registry with. A registry with token auth sends the engine to the API's token
 * server, which takes the user's name and API token (registry-api/http/routes/registry-token.ts).
 */
export interface RegistryCredentials {
  username: string;
  password: string;
  /** host:port of the registry. */
  serveraddress: string;
}

export interface PushOptions {
  intervalMs?: number;
  /** None: anonymous, for a registry without auth. */
  credentials?: RegistryCredentials;
}

/** Pushes `repository:tag`; returns the digest reference `repository@sha256:...`. */
export async function pushImage(
  docker: Docker,
  repository: string,
  tag: string,
  show: (line: string) => void,
  options: PushOptions = {},
): Promise<string> {
  const tracker = new PushTracker(options.intervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS);
  const image = docker.getImage(repository);
  let stream: NodeJS.ReadableStream;
  try {
    // The engine API asks for an X-Registry-Auth header on push; an empty config means anonymous access.
    stream = await image.push({ tag, authconfig: options.credentials ?? {} });
  } catch (err) {
    throw new Error(
      `the engine refused to push ${repository}:${tag}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  await readProgressStream(stream, (event) => tracker.feed(event, Date.now()).forEach(show));
  if (tracker.error !== null) throw new Error(`push of ${repository}:${tag} failed: ${tracker.error}`);
  show(tracker.summary());

  let digest = tracker.digest;
  if (digest === null) {
    const inspected = await docker.getImage(`${repository}:${tag}`).inspect();
    digest = digestFromRepoDigests(inspected.RepoDigests, repository);
  }
  if (digest === null) throw new Error(`pushed ${repository}:${tag} but the engine reported no registry digest for it`);
  return `${repository}@${digest}`;
}

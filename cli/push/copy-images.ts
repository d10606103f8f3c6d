// Services given by `image:` (a tag, or a digest in another registry) are resolved on the developer's side and
// copied into the fleet's registry, so devices pull only from there: one trust point, deltas against earlier
// releases, no public registry's rate limits in the field. The image comes from the developer's engine when it has
// it (what `docker compose` would run here), else from its registry through the one registry client; an index is
// copied with every platform manifest, or those the platform filter keeps.
import type Docker from 'dockerode';
import { parse as parseYaml } from 'yaml';
import type { RegistryCredentials } from '../../lib/registry/auth.js';
import { copyImage, platformText } from '../../lib/registry/copy.js';
import { type ImageReference, parseImageReference } from '../../protocol/image-reference.js';
import type { Platform } from '../../protocol/oci-image.js';
import { InContext } from '../failure.js';
import { formatBytes } from '../views/output.js';
import { connectEngine, DEFAULT_DOCKER_HOST } from './engine.js';
import { DEFAULT_PROGRESS_INTERVAL_MS, pushImage } from './image-pusher.js';
import { pushRegistryClient } from './registry-client.js';

/** A service whose image is named, not built. */
export interface ImageSource {
  service: string;
  /** As the compose file writes it. */
  written: string;
  ref: ImageReference;
}

/** What to do with each named image: copy it, or keep it (pinned by digest in the fleet's registry already). */
export interface ImagePlan {
  copies: ImageSource[];
  kept: Record<string, string>;
}

/**
 * The services with `image:` and no `build` (a built service's `image` is only the name its build is tagged
 * with). `text` is the resolved compose file; its images were checked by the compose validation before this.
 */
export function planImages(text: string, fleetRegistry: string | null): ImagePlan {
  const doc: unknown = parseYaml(text);
  const services =
    (typeof doc === 'object' && doc !== null ? (doc as { services?: unknown }).services : undefined) ?? {};
  const copies: ImageSource[] = [];
  const kept: Record<string, string> = {};
  for (const [service, definition] of Object.entries(services as Record<string, unknown>)) {
    if (typeof definition !== 'object' || definition === null) continue;
    const { image, build } = definition as { image?: unknown; build?: unknown };
    if (typeof image !== 'string' || (build !== undefined && build !== null)) continue;
    let ref: ImageReference;
    try {
      ref = parseImageReference(image);
    } catch (err) {
      throw new InContext(`services.${service}.image`, err);
    }
    // Without a fleet registry there is nowhere to copy to: a digest is kept as written (the engine pulls it).
    if (ref.digest !== undefined && (fleetRegistry === null || ref.registry === fleetRegistry)) kept[service] = image;
    else copies.push({ service, written: image, ref });
  }
  return { copies, kept };
}

/** The repository an image is copied to: the same as a built service's, REGISTRY/FLEET/SERVICE. */
export function fleetRepository(registry: string, fleet: string, service: string): string {
  return `${registry}/${fleet}/${service}`;
}

export interface CopyImagesOptions {
  /** The fleet's registry (host:port). */
  registry: string;
  fleet: string;
  tag: string;
  /** The user's name and API token for the fleet's registry; none: anonymous (a registry without auth). */
  credentials?: RegistryCredentials;
  /** From --docker-host; DOCKER_HOST, then the engine's usual socket; no engine there: registries only. */
  dockerHost?: string;
  env: NodeJS.ProcessEnv;
  /** Keeps the platforms of an index it answers true for; absent: all. */
  platforms?: (platform: Platform | undefined) => boolean;
  progress(line: string): void;
  progressIntervalMs?: number;
}

/** The engine, if one answers; a push of named images only needs none. */
async function engineIfAny(options: CopyImagesOptions): Promise<Docker | null> {
  const host = options.dockerHost ?? options.env.DOCKER_HOST ?? DEFAULT_DOCKER_HOST;
  try {
    return await connectEngine(host);
  } catch (err) {
    // Asked for explicitly, an engine that does not answer is an error; the default one may simply not exist.
    if (options.dockerHost !== undefined) throw err;
    options.progress(`no Docker engine at ${host}: images come from their registries`);
    return null;
  }
}

async function engineHas(docker: Docker, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch {
    return false;
  }
}

/** Copies each image; returns service name -> REGISTRY/FLEET/SERVICE@sha256:... in the fleet's registry. */
export async function copyImages(sources: ImageSource[], options: CopyImagesOptions): Promise<Record<string, string>> {
  const images: Record<string, string> = {};
  if (sources.length === 0) return images;
  const client = pushRegistryClient(options);
  const docker = await engineIfAny(options);
  const interval = options.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
  for (const source of sources) {
    const show = (line: string): void => options.progress(`[${source.service}] ${line}`);
    const repository = fleetRepository(options.registry, options.fleet, source.service);
    try {
      if (docker !== null && (await engineHas(docker, source.written))) {
        show(`${source.written}: from your engine, pushing to ${repository}:${options.tag}`);
        await docker.getImage(source.written).tag({ repo: repository, tag: options.tag });
        images[source.service] = await pushImage(docker, repository, options.tag, show, {
          intervalMs: interval,
          ...(options.credentials === undefined
            ? {}
            : { credentials: { ...options.credentials, serveraddress: options.registry } }),
        });
      } else {
        const reference = source.ref.digest ?? source.ref.tag ?? 'latest';
        show(`${source.written}: copying from ${source.ref.registry} to ${repository}:${options.tag}`);
        const shown = new Map<string, number>();
        const result = await copyImage(
          client,
          { registry: source.ref.registry, repository: source.ref.repository },
          reference,
          { registry: options.registry, repository: repository.slice(options.registry.length + 1) },
          options.tag,
          {
            ...(options.platforms === undefined ? {} : { platforms: options.platforms }),
            onBytes: (digest, sent, size) => {
              const now = Date.now();
              if (sent >= size || now - (shown.get(digest) ?? 0) < interval) return;
              shown.set(digest, now);
              show(`${digest.slice(7, 19)}: uploading ${formatBytes(sent)} / ${formatBytes(size)}`);
            },
            onBlob: ({ digest, size, result: how }) =>
              show(
                `${digest.slice(7, 19)}: ${how === 'present' ? 'already in the registry' : how === 'mounted' ? 'mounted' : `uploaded ${formatBytes(size)}`}`,
              ),
          },
        );
        const platforms =
          result.platforms.length === 0 ? '' : ` (${result.platforms.map((p) => platformText(p)).join(', ')})`;
        show(`${formatBytes(result.bytesUploaded)} uploaded${platforms}`);
        images[source.service] = `${repository}@${result.digest}`;
      }
      show(`pinned ${source.written} as ${images[source.service]}`);
    } catch (err) {
      throw new InContext(`service '${source.service}' (image ${source.written})`, err);
    }
  }
  return images;
}

// A service built for every platform its fleet's device types need, pushed as one manifest list. The engine's
// classic builder builds each platform (`--platform`; RUN steps of another architecture run through binfmt_misc
// and qemu, scripts/binfmt.sh), with the build args BuildKit would set (TARGETPLATFORM, TARGETOS, TARGETARCH,
// TARGETVARIANT) so a Dockerfile can pick its base per platform. The classic builder takes a local FROM image
// whatever its platform, so each result is checked to be of the platform asked for before anything is pushed.
import { availableParallelism } from 'node:os';
import type Docker from 'dockerode';
import { type PlatformName, platformNameOf, platformObject } from '../../protocol/device-types.js';
import type { Platform } from '../../protocol/oci-image.js';
import { parseDigestReference } from '../../protocol/image-reference.js';
import type { RegistryClient } from '../../lib/registry/client.js';
import { putImageIndex } from '../../lib/registry/image-index.js';
import type { ServiceBuild } from './compose-build.js';
import { buildImage } from './image-builder.js';
import { pushImage, type RegistryCredentials } from './image-pusher.js';

/** The build args BuildKit sets for a platform, which the classic builder leaves to the caller. */
export function platformBuildArgs(platform: PlatformName): Record<string, string> {
  const { os, architecture, variant } = platformObject(platform);
  return { TARGETPLATFORM: platform, TARGETOS: os, TARGETARCH: architecture, TARGETVARIANT: variant ?? '' };
}

/** The tag each platform's image is pushed under before the list takes the release's tag: `TAG-linux-arm64`. */
export function platformTag(tag: string, platform: PlatformName): string {
  return `${tag}-${platform.replace(/\//g, '-')}`.slice(0, 128);
}

/** Platform builds at once: each is mostly one CPU (emulated ones entirely), so one per core. */
export function platformConcurrency(platforms: number): number {
  return Math.max(1, Math.min(platforms, availableParallelism()));
}

/** Runs `work` on every item with at most `limit` at once; the first failure is thrown once all have settled. */
async function eachLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next;
      next += 1;
      results[i] = await work(items[i]!).then(
        (value): PromiseSettledResult<R> => ({ status: 'fulfilled', value }),
        (reason: unknown): PromiseSettledResult<R> => ({ status: 'rejected', reason }),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<R>).value);
}

export interface PlatformBuildOptions {
  docker: Docker;
  /** Reads back the pushed manifests and PUTs the list, with the same credentials as the engine's push. */
  registry: RegistryClient;
  credentials?: RegistryCredentials;
  progress(line: string): void;
}

/** Builds and pushes `build` for each platform, then its manifest list; returns `repository@sha256:...` of the list. */
export async function buildForPlatforms(
  build: ServiceBuild,
  platforms: readonly PlatformName[],
  options: PlatformBuildOptions,
): Promise<string> {
  const { docker } = options;
  const started = Date.now();
  const limit = platformConcurrency(platforms.length);
  options.progress(
    `[${build.service}] building for ${platforms.join(', ')} (${limit === 1 ? 'one at a time' : `${limit} at once`})`,
  );
  const entries = await eachLimited(platforms, limit, async (platform) => {
    const show = (line: string): void => options.progress(`[${build.service} ${platform}] ${line}`);
    const tag = platformTag(build.tag, platform);
    const t0 = Date.now();
    // BuildKit's platform args win over the compose file's: they say what is being built.
    await buildImage(
      docker,
      { ...build, tag, buildArgs: { ...build.buildArgs, ...platformBuildArgs(platform) } },
      show,
      platform,
    );
    const inspected = await docker.getImage(`${build.repository}:${tag}`).inspect();
    const built: Platform = {
      os: inspected.Os,
      architecture: inspected.Architecture,
      ...(typeof inspected.Variant === 'string' && inspected.Variant !== '' ? { variant: inspected.Variant } : {}),
    };
    const got = platformNameOf(built);
    if (got !== platform) {
      throw new Error(
        `built for ${platform}, the image is ${built.os}/${built.architecture}${built.variant === undefined ? '' : `/${built.variant}`}: its FROM image is of another platform (the classic builder takes a local base image whatever its platform; name one per platform, e.g. with ARG TARGETARCH)`,
      );
    }
    show(`built in ${Math.round((Date.now() - t0) / 1000)}s; pushing`);
    const pushed = await pushImage(
      docker,
      build.repository,
      tag,
      show,
      options.credentials === undefined ? {} : { credentials: options.credentials },
    );
    return { digest: parseDigestReference(pushed).digest, platform: built };
  });
  const ref = parseDigestReference(`${build.repository}@${entries[0]!.digest}`);
  const digest = await putImageIndex(options.registry, ref, build.tag, entries);
  options.progress(
    `[${build.service}] manifest list ${build.repository}:${build.tag} (${platforms.join(', ')}) pushed in ${Math.round((Date.now() - started) / 1000)}s`,
  );
  return `${build.repository}@${digest}`;
}

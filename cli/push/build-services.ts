// What both pushes share (a release for a fleet, and `skiff push --local` to one device): finding the compose file,
// and building every service that has `build` with the developer's engine and pushing it to a registry.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { InContext } from '../failure.js';
import type { ServiceBuild } from './compose-build.js';
import { connectEngine, DEFAULT_DOCKER_HOST } from './engine.js';
import { buildImage } from './image-builder.js';
import { pushImage, type RegistryCredentials } from './image-pusher.js';
import { buildForPlatforms } from './platform-builds.js';
import type { PlatformName } from '../../protocol/device-types.js';
import { pushRegistryClient } from './registry-client.js';

export const COMPOSE_FILE_NAMES = ['docker-compose.yml', 'docker-compose.yaml', 'compose.yaml', 'compose.yml'] as const;

export async function readComposeFile(dir: string): Promise<{ file: string; text: string }> {
  for (const name of COMPOSE_FILE_NAMES) {
    const file = path.join(dir, name);
    try {
      return { file, text: await readFile(file, 'utf8') };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new Error(`cannot read ${file}: ${(err as Error).message}`);
    }
  }
  throw new Error(`no compose file in ${dir} (looked for ${COMPOSE_FILE_NAMES.join(', ')})`);
}

/** Relative to the working folder when inside it, so progress lines stay short. */
function displayPath(target: string): string {
  const relative = path.relative(process.cwd(), target);
  return relative === '' ? '.' : relative.startsWith('..') ? target : relative;
}

export interface BuildAndPushOptions {
  /** From --docker-host; DOCKER_HOST, then the engine's usual socket, are the fallbacks. */
  dockerHost?: string;
  env: NodeJS.ProcessEnv;
  /** None: anonymous, for a registry without auth. */
  credentials?: RegistryCredentials;
  /**
   * Build each service for these platforms and push one manifest list per service (platform-builds.ts); absent:
   * one image for the engine's own platform (a push to one device's local API).
   */
  platforms?: readonly PlatformName[];
  progress(line: string): void;
}

/** Builds and pushes each service in turn; returns service name -> `repository@sha256:...`. */
export async function buildAndPush(
  builds: ServiceBuild[],
  options: BuildAndPushOptions,
): Promise<Record<string, string>> {
  const images: Record<string, string> = {};
  if (builds.length === 0) return images;
  const host = options.dockerHost ?? options.env.DOCKER_HOST ?? DEFAULT_DOCKER_HOST;
  const docker: Docker = await connectEngine(host);
  const { platforms } = options;
  if (platforms !== undefined) {
    const registry = pushRegistryClient({
      registry: options.credentials?.serveraddress ?? null,
      credentials:
        options.credentials === undefined
          ? undefined
          : { username: options.credentials.username, password: options.credentials.password },
      env: options.env,
    });
    for (const build of builds) {
      try {
        images[build.service] = await buildForPlatforms(build, platforms, {
          docker,
          registry,
          ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
          progress: options.progress,
        });
      } catch (err) {
        throw new InContext(`service '${build.service}'`, err);
      }
    }
    return images;
  }
  for (const build of builds) {
    const show = (line: string): void => options.progress(`[${build.service}] ${line}`);
    try {
      show(`building ${build.repository}:${build.tag} from ${displayPath(build.context)}`);
      const imageId = await buildImage(docker, build, show);
      show(`built ${imageId.replace(/^sha256:/, '').slice(0, 12)}; pushing`);
      images[build.service] = await pushImage(
        docker,
        build.repository,
        build.tag,
        show,
        options.credentials ? { credentials: options.credentials } : {},
      );
      show(`pushed ${images[build.service]}`);
    } catch (err) {
      throw new InContext(`service '${build.service}'`, err);
    }
  }
  return images;
}

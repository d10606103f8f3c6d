// `skiff push` from start to end: read the compose file, build and push every service that has `build`,
// then create the release with the compose text and each built service's digest reference.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import type { Release } from '../../protocol/api.js';
import type { ApiClient } from '../api-client.js';
import { InContext } from '../failure.js';
import { imageTag, planBuilds } from './compose-build.js';
import { resolveComposeForPush } from './compose-variables.js';
import { connectEngine, DEFAULT_DOCKER_HOST } from './engine.js';
import { buildImage } from './image-builder.js';
import { pushImage } from './image-pusher.js';

export const COMPOSE_FILE_NAMES = ['docker-compose.yml', 'docker-compose.yaml', 'compose.yaml', 'compose.yml'] as const;

export interface PushRequest {
  dir: string;
  fleet: string;
  version?: string;
  notes?: string;
  /** From --docker-host; DOCKER_HOST is the fallback. */
  dockerHost?: string;
  buildArgs: Record<string, string>;
}

export interface PushContext {
  client: ApiClient;
  /** The API token the client sends: with the user's name, the registry's token server takes it for the push. */
  apiToken: string | null;
  env: NodeJS.ProcessEnv;
  now: Date;
  /** One progress line for the person watching. */
  progress(line: string): void;
}

async function readComposeFile(dir: string): Promise<{ file: string; text: string }> {
  for (const name of COMPOSE_FILE_NAMES) {
    const file = path.join(dir, name);
    try {
      return { file, text: await readFile(file, 'utf8') };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${file}: ${(err as Error).message}`);
    }
  }
  throw new Error(`no compose file in ${dir} (looked for ${COMPOSE_FILE_NAMES.join(', ')})`);
}

/** Relative to the working folder when inside it, so progress lines stay short. */
function displayPath(target: string): string {
  const relative = path.relative(process.cwd(), target);
  return relative === '' ? '.' : relative.startsWith('..') ? target : relative;
}

export async function pushRelease(request: PushRequest, ctx: PushContext): Promise<Release> {
  const dir = path.resolve(request.dir);
  const { file, text: written } = await readComposeFile(dir);
  // Variables and env files exist only here, on the developer's machine: the release carries them resolved.
  const text = resolveComposeForPush(written, path.dirname(file), ctx.env);
  // Before any build: a wrong fleet, a taken version or a registry-less API should not cost minutes of building.
  const info = await ctx.client.info();
  await ctx.client.getFleet(request.fleet);
  if (request.version !== undefined) {
    const taken = (await ctx.client.listReleases(request.fleet)).find((r) => r.version === request.version);
    if (taken) throw new Error(`fleet '${request.fleet}' already has a release ${request.version} (${taken.id}); choose another --version`);
  }

  const plan = planBuilds({
    composeText: text,
    composeDir: path.dirname(file),
    registry: info.registry ?? '',
    fleet: request.fleet,
    tag: imageTag(request.version, ctx.now),
    buildArgOverrides: request.buildArgs,
    env: ctx.env,
  });
  plan.warnings.forEach((w) => ctx.progress(`warning: ${w}`));
  if (plan.builds.length > 0 && info.registry === null) {
    throw new Error(`the API has no image registry configured, so the built services (${plan.builds.map((b) => b.service).join(', ')}) cannot be pushed`);
  }

  const images: Record<string, string> = {};
  if (plan.builds.length > 0) {
    const host = request.dockerHost ?? ctx.env.DOCKER_HOST ?? DEFAULT_DOCKER_HOST;
    const docker: Docker = await connectEngine(host);
    // A registry without auth ignores them; one with token auth needs them.
    const credentials = ctx.apiToken === null || info.registry === null ? undefined
      : { username: (await ctx.client.me()).name, password: ctx.apiToken, serveraddress: info.registry };
    for (const build of plan.builds) {
      const show = (line: string): void => ctx.progress(`[${build.service}] ${line}`);
      try {
        show(`building ${build.repository}:${build.tag} from ${displayPath(build.context)}`);
        const imageId = await buildImage(docker, build, show);
        show(`built ${imageId.replace(/^sha256:/, '').slice(0, 12)}; pushing`);
        images[build.service] = await pushImage(docker, build.repository, build.tag, show, credentials ? { credentials } : {});
        show(`pushed ${images[build.service]}`);
      } catch (err) {
        throw new InContext(`service '${build.service}'`, err);
      }
    }
  } else {
    ctx.progress('no service has `build`; nothing to build');
  }

  try {
    return await ctx.client.createRelease(request.fleet, {
      compose: text,
      images,
      ...(request.version === undefined ? {} : { version: request.version }),
      ...(request.notes === undefined ? {} : { notes: request.notes }),
    });
  } catch (err) {
    throw new InContext(`creating the release in fleet '${request.fleet}'`, err);
  }
}

// `skiff push` from start to end: read the compose file, build and push every service that has `build`,
// then create the release with the compose text and each built service's digest reference.
import path from 'node:path';
import type { Release } from '../../protocol/api.js';
import type { ApiClient } from '../api-client.js';
import { InContext } from '../failure.js';
import { buildAndPush, readComposeFile } from './build-services.js';
import { imageServices, imageTag, planBuilds } from './compose-build.js';
import { checkImagePlatforms } from './image-platforms.js';
import { isPlatformName } from '../../protocol/device-types.js';
import { resolveComposeForPush } from './compose-variables.js';

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

export async function pushRelease(request: PushRequest, ctx: PushContext): Promise<Release> {
  const dir = path.resolve(request.dir);
  const { file, text: written } = await readComposeFile(dir);
  // Variables and env files exist only here, on the developer's machine: the release carries them resolved.
  const text = resolveComposeForPush(written, path.dirname(file), ctx.env);
  // Before any build: a wrong fleet, a taken version or a registry-less API should not cost minutes of building.
  const info = await ctx.client.info();
  const fleet = await ctx.client.getFleet(request.fleet);
  // An API from before device types names no platforms: the engine's own image, as it always was.
  const platforms = fleet.platforms?.filter(isPlatformName);
  if (request.version !== undefined) {
    const taken = (await ctx.client.listReleases(request.fleet)).find((r) => r.version === request.version);
    if (taken)
      throw new Error(
        `fleet '${request.fleet}' already has a release ${request.version} (${taken.id}); choose another --version`,
      );
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
  for (const w of plan.warnings) ctx.progress(`warning: ${w}`);
  if (plan.builds.length > 0 && info.registry === null) {
    throw new Error(
      `the API has no image registry configured, so the built services (${plan.builds.map((b) => b.service).join(', ')}) cannot be pushed`,
    );
  }

  // A registry without auth ignores them; one with token auth needs them.
  const credentials =
    plan.builds.length === 0 || ctx.apiToken === null || info.registry === null
      ? undefined
      : { username: (await ctx.client.me()).name, password: ctx.apiToken, serveraddress: info.registry };
  if (platforms !== undefined) {
    ctx.progress(
      `fleet '${fleet.name}' (${(fleet.deviceTypes ?? [fleet.deviceType]).join(', ')}) needs ${platforms.join(', ')}`,
    );
    const loggedIn =
      credentials ??
      (ctx.apiToken === null || info.registry === null
        ? undefined
        : { username: (await ctx.client.me()).name, password: ctx.apiToken, serveraddress: info.registry });
    await checkImagePlatforms(imageServices(text), platforms, {
      fleet: fleet.name,
      deviceTypes: fleet.deviceTypes ?? [fleet.deviceType],
      apiRegistry: info.registry,
      ...(loggedIn === undefined ? {} : { credentials: loggedIn }),
      env: ctx.env,
      progress: ctx.progress,
    });
  }
  if (plan.builds.length === 0) ctx.progress('no service has `build`; nothing to build');
  const images = await buildAndPush(plan.builds, {
    ...(platforms === undefined ? {} : { platforms }),
    ...(request.dockerHost === undefined ? {} : { dockerHost: request.dockerHost }),
    env: ctx.env,
    ...(credentials === undefined ? {} : { credentials }),
    progress: ctx.progress,
  });

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

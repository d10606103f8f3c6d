// `skiff push` from start to end: read the compose file, build and push every service that has `build`,
// then create the release with the compose text and each built service's digest reference.
import path from 'node:path';
import type { Release } from '../../protocol/api.js';
import type { ApiClient } from '../api-client.js';
import { InContext } from '../failure.js';
import { buildAndPush, readComposeFile } from './build-services.js';
import { imageTag, planBuilds } from './compose-build.js';
import { resolveComposeForPush } from './compose-variables.js';
import { releaseKeyForPush, signPush } from './release-signing.js';

export interface PushRequest {
  dir: string;
  fleet: string;
  version?: string;
  notes?: string;
  /** From --docker-host; DOCKER_HOST is the fallback. */
  dockerHost?: string;
  buildArgs: Record<string, string>;
  /** From --release-key; the default key file (if any) otherwise. */
  releaseKey?: string;
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
  // Read first: a missing or damaged key should stop the push before minutes of building.
  const releaseKey = await releaseKeyForPush(request.releaseKey, ctx.env);
  const { file, text: written } = await readComposeFile(dir);
  // Variables and env files exist only here, on the developer's machine: the release carries them resolved.
  const text = resolveComposeForPush(written, path.dirname(file), ctx.env);
  // Before any build: a wrong fleet, a taken version or a registry-less API should not cost minutes of building.
  const info = await ctx.client.info();
  await ctx.client.getFleet(request.fleet);
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
  if (plan.builds.length === 0) ctx.progress('no service has `build`; nothing to build');
  const images = await buildAndPush(plan.builds, {
    ...(request.dockerHost === undefined ? {} : { dockerHost: request.dockerHost }),
    env: ctx.env,
    ...(credentials === undefined ? {} : { credentials }),
    progress: ctx.progress,
  });

  const version = request.version === undefined ? {} : { version: request.version };
  const signature =
    releaseKey === null
      ? {}
      : { signature: signPush(releaseKey.key, { fleet: request.fleet, ...version, compose: text, images }) };
  if (releaseKey !== null) ctx.progress(`signed with release key ${releaseKey.info.keyId} (${releaseKey.info.file})`);
  try {
    return await ctx.client.createRelease(request.fleet, {
      compose: text,
      images,
      ...version,
      ...signature,
      ...(request.notes === undefined ? {} : { notes: request.notes }),
    });
  } catch (err) {
    throw new InContext(`creating the release in fleet '${request.fleet}'`, err);
  }
}

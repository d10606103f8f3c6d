// `skiff push --local DEVICE DIR`: the fleet push's build and registry push, then the compose file and the image
// digests straight to one device's local API instead of a release. No fleet, no API needed: the registry is the
// developer's own (--registry) or the fleet's, reached with the Skiff login as the fleet push does.
import path from 'node:path';
import type { LocalState, LocalTargetAnswer } from '../../protocol/local-api.js';
import type { ApiClient } from '../api-client.js';
import { InContext } from '../failure.js';
import type { LocalApiClient } from '../local/client.js';
import { buildAndPush, readComposeFile } from './build-services.js';
import { imageTag, planBuilds } from './compose-build.js';
import { resolveComposeForPush } from './compose-variables.js';
import type { RegistryCredentials } from './image-pusher.js';

export { LOCAL_NAMESPACE } from './namespace.js';

export interface LocalPushRequest {
  dir: string;
  /** host:port from --registry; without it, the Skiff API's registry. */
  registry?: string;
  /** The first path component of each repository (REGISTRY/NAMESPACE/SERVICE). */
  namespace: string;
  dockerHost?: string;
  buildArgs: Record<string, string>;
}

/** The fleet's API when the developer has a login: it names its registry and lets the API token push to it. */
export interface FleetLogin {
  client: ApiClient;
  token: string;
}

export interface LocalPushContext {
  device: LocalApiClient;
  login: FleetLogin | null;
  env: NodeJS.ProcessEnv;
  now: Date;
  progress(line: string): void;
}

export interface RegistryAccess {
  registry: string;
  credentials?: RegistryCredentials;
}

/**
 * Where to push and as whom. The API's registry gets the login as credentials (its token server takes the user's
 * name and API token); any other registry is pushed to anonymously.
 */
export async function registryAccess(
  registry: string | undefined,
  login: FleetLogin | null,
  progress: (line: string) => void,
): Promise<RegistryAccess> {
  if (login === null) {
    if (registry === undefined) {
      throw new Error(
        'no registry to push the built images to: pass --registry HOST:PORT, or log in to a Skiff API (its registry is used)',
      );
    }
    return { registry };
  }
  let apiRegistry: string | null;
  try {
    apiRegistry = (await login.client.info()).registry;
  } catch (err) {
    if (registry === undefined)
      throw new InContext('asking the Skiff API for its registry (or pass --registry HOST:PORT)', err);
    progress(
      `warning: could not ask the Skiff API whether ${registry} is its registry (${(err as Error).message}); pushing anonymously`,
    );
    return { registry };
  }
  const target = registry ?? apiRegistry;
  if (target === null || target === undefined) {
    throw new Error('the Skiff API has no image registry configured: pass --registry HOST:PORT');
  }
  if (target !== apiRegistry) return { registry: target };
  const user = await login.client.me();
  return { registry: target, credentials: { username: user.name, password: login.token, serveraddress: target } };
}

export interface LocalPushResult {
  answer: LocalTargetAnswer;
  /** The device's state just before the compose file was sent (what following it compares against). */
  before: LocalState;
}

export async function pushLocal(request: LocalPushRequest, ctx: LocalPushContext): Promise<LocalPushResult> {
  const dir = path.resolve(request.dir);
  const { file, text: written } = await readComposeFile(dir);
  // The device gets the file as `docker compose` would read it here: variables and env files resolved.
  const text = resolveComposeForPush(written, path.dirname(file), ctx.env);
  // Before minutes of building: is the device there, and does it take the key?
  const found = await ctx.device.state();
  ctx.progress(
    `device ${found.uuid} at ${ctx.device.baseUrl}: ${found.localMode ? 'in local mode' : 'running its fleet target'}`,
  );

  const tag = imageTag(undefined, ctx.now);
  const plan = (registry: string): ReturnType<typeof planBuilds> =>
    planBuilds({
      composeText: text,
      composeDir: path.dirname(file),
      registry,
      fleet: request.namespace,
      tag,
      buildArgOverrides: request.buildArgs,
      env: ctx.env,
    });
  // Which services to build is known before the registry is: a compose file of ready images needs none.
  const draft = plan(request.registry ?? 'registry.invalid');
  for (const w of draft.warnings) ctx.progress(`warning: ${w}`);
  let images: Record<string, string> = {};
  if (draft.builds.length === 0) {
    ctx.progress('no service has `build`; nothing to build');
  } else {
    const access = await registryAccess(request.registry, ctx.login, ctx.progress);
    images = await buildAndPush(plan(access.registry).builds, {
      ...(request.dockerHost === undefined ? {} : { dockerHost: request.dockerHost }),
      env: ctx.env,
      ...(access.credentials === undefined ? {} : { credentials: access.credentials }),
      progress: ctx.progress,
    });
  }

  ctx.progress(`sending the compose file and ${Object.keys(images).length} image(s) to ${ctx.device.baseUrl}`);
  const before = draft.builds.length === 0 ? found : await ctx.device.state();
  return { answer: await ctx.device.putTarget({ compose: text, images }), before };
}

// `skiff push` from start to end: read the compose file and resolve its variables, validate it as the API will
// (before anything is built), build and push every service that has `build`, copy every named image into the
// fleet's registry, then create the release with the compose text and each service's digest reference; with
// --wait, follow it until the fleet's devices run it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { normalizeCompose, type NormalizedCompose } from '../../protocol/compose/normalize.js';
import type { Platform } from '../../protocol/oci-image.js';
import type { DeviceSummary, Release } from '../../protocol/api.js';
import type { ApiClient } from '../api-client.js';
import { InContext } from '../failure.js';
import { buildAndPush, readComposeFile } from './build-services.js';
import { imageServices, imageTag, planBuilds } from './compose-build.js';
import { checkImagePlatforms } from './image-platforms.js';
import { isPlatformName, platformNameOf } from '../../protocol/device-types.js';
import { resolveComposeForPush } from './compose-variables.js';
import { copyImages, fleetRepository, planImages } from './copy-images.js';
import { packProject } from './pack-files.js';
import { releaseKeyForPush, signPush } from './release-signing.js';

export interface PushRequest {
  dir: string;
  fleet: string;
  version?: string;
  notes?: string;
  /** From --docker-host; DOCKER_HOST is the fallback. */
  dockerHost?: string;
  buildArgs: Record<string, string>;
  /** Validate and print the normalised release; build, copy and upload nothing. */
  dryRun?: boolean;
  /** Follow the release until every device tracking it runs it, or this many ms pass. */
  waitMs?: number;
  /** Which platforms of an image index are copied; absent: all of them. */
  platforms?: (platform: Platform | undefined) => boolean;
  /** From --release-key; the default key file (if any) otherwise. */
  releaseKey?: string;
  /** From --profile: the compose profiles the release enables. */
  profiles?: string[];
}

export interface PushContext {
  client: ApiClient;
  /** The API token the client sends: with the user's name, the registry's token server takes it for the push. */
  apiToken: string | null;
  env: NodeJS.ProcessEnv;
  now: Date;
  /** One progress line for the person watching. */
  progress(line: string): void;
  /** Pauses between polls of --wait; tests shorten it. */
  pollIntervalMs?: number;
}

/** What a dry run would push: the normalised release, each image as where it would come from. */
export interface DryRun {
  fleet: string;
  version: string | null;
  /** Service name to what its image would be: built from a context, copied from a reference, or kept. */
  images: Record<string, { build: string; to: string } | { copy: string; to: string } | { keep: string }>;
  /** The normalised release; an image still to be built or copied reads REPOSITORY:TAG@sha256:(at push). */
  release: NormalizedCompose;
}

/** How the devices of the fleet stand with the release, once --wait ends. */
export interface WaitOutcome {
  ready: boolean;
  /** Why not, when not. */
  reason: string | null;
  devices: Array<Pick<DeviceSummary, 'uuid' | 'name' | 'online' | 'runningRelease' | 'updateStatus' | 'error'>>;
}

export type PushOutcome =
  | { kind: 'dry-run'; dryRun: DryRun }
  | { kind: 'release'; release: Release; unchanged: boolean; wait: WaitOutcome | null };

/** A digest no image has: stands in for the digests a dry run or the validation before the builds cannot know yet. */
const PLACEHOLDER_DIGEST = `sha256:${'0'.repeat(64)}`;

export async function pushRelease(request: PushRequest, ctx: PushContext): Promise<PushOutcome> {
  const dir = path.resolve(request.dir);
  // Read first: a missing or damaged key should stop the push before minutes of building.
  const releaseKey = await releaseKeyForPush(request.releaseKey, ctx.env);
  const { file, text: written } = await readComposeFile(dir);
  // Variables and env files exist only here, on the developer's machine: the release carries them resolved.
  const text = resolveComposeForPush(written, path.dirname(file), ctx.env);
  // Before any build: a wrong fleet, a taken version or a registry-less API should not cost minutes of building.
  const info = await ctx.client.info();
  const fleet = await ctx.client.getFleet(request.fleet);
  // An API from before device types names no platforms: the engine's own image, as it always was.
  const platforms = fleet.platforms?.filter(isPlatformName);
  const tag = imageTag(request.version, ctx.now);
  const plan = planBuilds({
    composeText: text,
    composeDir: path.dirname(file),
    registry: info.registry ?? '',
    fleet: request.fleet,
    tag,
    buildArgOverrides: request.buildArgs,
    env: ctx.env,
  });
  const named = planImages(text, info.registry);
  // The compose file as the API will judge it, with stand-in digests for what is still to be built or copied.
  const registryName = info.registry ?? 'registry.invalid';
  const placeholders: Record<string, string> = { ...named.kept };
  for (const service of [...plan.builds.map((b) => b.service), ...named.copies.map((c) => c.service)])
    placeholders[service] = `${fleetRepository(registryName, request.fleet, service)}@${PLACEHOLDER_DIGEST}`;
  // Relative binds, configs and secrets: read and hashed here, as the release will carry them.
  const project = packProject(path.dirname(file));
  const profiles = request.profiles === undefined || request.profiles.length === 0 ? undefined : request.profiles;
  const normalized = normalizeCompose(text, placeholders, {
    files: project.sources,
    ...(profiles === undefined ? {} : { profiles }),
  });
  // Services of profiles not enabled are not in the release: nothing of theirs is built or copied.
  const inRelease = new Set(normalized.services.map((s) => s.name));
  plan.builds = plan.builds.filter((b) => inRelease.has(b.service));
  named.copies = named.copies.filter((c) => inRelease.has(c.service));
  const facts = project.facts();
  const files = Object.keys(facts).length === 0 ? {} : { files: facts };
  for (const w of plan.warnings) ctx.progress(`warning: ${w}`);

  if (request.dryRun === true) {
    const images: DryRun['images'] = {};
    for (const b of plan.builds) images[b.service] = { build: b.context, to: `${b.repository}:${b.tag}` };
    for (const c of named.copies)
      images[c.service] = { copy: c.written, to: `${fleetRepository(registryName, request.fleet, c.service)}:${tag}` };
    for (const [service, image] of Object.entries(named.kept)) images[service] = { keep: image };
    return {
      kind: 'dry-run',
      dryRun: {
        fleet: request.fleet,
        version: request.version ?? null,
        images,
        // Each service's image as where it will be: the digest is only known once it is built or copied.
        release: {
          ...normalized,
          services: normalized.services.map((spec) => {
            const image = images[spec.name];
            return image === undefined || 'keep' in image ? spec : { ...spec, image: `${image.to}@sha256:(at push)` };
          }),
        },
      },
    };
  }

  if (request.version !== undefined) {
    const taken = (await ctx.client.listReleases(request.fleet)).find((r) => r.version === request.version);
    if (taken)
      throw new Error(
        `fleet '${request.fleet}' already has a release ${request.version} (${taken.id}); choose another --version`,
      );
  }
  const pushing = [...plan.builds.map((b) => b.service), ...named.copies.map((c) => c.service)];
  if (pushing.length > 0 && info.registry === null) {
    throw new Error(
      `the API has no image registry configured, so the services ${pushing.join(', ')} cannot be pushed to it`,
    );
  }

  // A registry without auth ignores them; one with token auth needs them.
  const credentials =
    pushing.length === 0 || ctx.apiToken === null || info.registry === null
      ? undefined
      : { username: (await ctx.client.me()).name, password: ctx.apiToken };
  if (platforms !== undefined) {
    ctx.progress(
      `fleet '${fleet.name}' (${(fleet.deviceTypes ?? [fleet.deviceType]).join(', ')}) needs ${platforms.join(', ')}`,
    );
    const loggedIn =
      ctx.apiToken === null || info.registry === null
        ? undefined
        : {
            ...(credentials ?? { username: (await ctx.client.me()).name, password: ctx.apiToken }),
            serveraddress: info.registry,
          };
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
  const built = await buildAndPush(plan.builds, {
    ...(platforms === undefined ? {} : { platforms }),
    ...(request.dockerHost === undefined ? {} : { dockerHost: request.dockerHost }),
    env: ctx.env,
    ...(credentials === undefined || info.registry === null
      ? {}
      : { credentials: { ...credentials, serveraddress: info.registry } }),
    progress: ctx.progress,
  });
  // Of an image index, only what the fleet's devices run (and manifests that name no platform, such as attestations'
  // siblings, are left out by copyImage itself); without device types, every platform.
  const copyFilter =
    request.platforms ??
    (platforms === undefined
      ? undefined
      : (platform: Platform | undefined) => {
          const name = platform === undefined ? null : platformNameOf(platform);
          return name !== null && platforms.includes(name);
        });
  const copied =
    info.registry === null
      ? {}
      : await copyImages(named.copies, {
          registry: info.registry,
          fleet: request.fleet,
          tag,
          ...(credentials === undefined ? {} : { credentials }),
          ...(request.dockerHost === undefined ? {} : { dockerHost: request.dockerHost }),
          ...(copyFilter === undefined ? {} : { platforms: copyFilter }),
          env: ctx.env,
          progress: ctx.progress,
        });

  const images = { ...named.kept, ...built, ...copied };
  await uploadFiles(ctx.client, request.fleet, project.blobs(), ctx.progress);
  const version = request.version === undefined ? {} : { version: request.version };
  const signature =
    releaseKey === null
      ? {}
      : {
          signature: signPush(releaseKey.key, {
            fleet: request.fleet,
            ...version,
            compose: text,
            images,
            ...files,
            ...(profiles === undefined ? {} : { profiles }),
          }),
        };
  if (releaseKey !== null) ctx.progress(`signed with release key ${releaseKey.info.keyId} (${releaseKey.info.file})`);
  let release: Release;
  try {
    release = await ctx.client.createRelease(request.fleet, {
      compose: text,
      images,
      ...files,
      ...(profiles === undefined ? {} : { profiles }),
      ...version,
      ...signature,
      ...(request.notes === undefined ? {} : { notes: request.notes }),
    });
  } catch (err) {
    throw new InContext(`creating the release in fleet '${request.fleet}'`, err);
  }
  const unchanged = release.unchanged === true;
  if (unchanged)
    ctx.progress(
      `unchanged: release ${release.version} (${release.id}) of fleet '${request.fleet}' already has this content; no new release`,
    );
  const wait =
    request.waitMs === undefined
      ? null
      : await waitForRelease(ctx.client, release, request.waitMs, ctx.pollIntervalMs ?? 2000, ctx.progress);
  return { kind: 'release', release, unchanged, wait };
}

/** Uploads the files the release carries; the API keeps them by digest, so a file it has costs one small request. */
async function uploadFiles(
  client: ApiClient,
  fleet: string,
  blobs: ReadonlyMap<string, string>,
  progress: (line: string) => void,
): Promise<void> {
  if (blobs.size === 0) return;
  let sent = 0;
  let bytes = 0;
  for (const [digest, file] of blobs) {
    const content = await readFile(file);
    let created: boolean;
    try {
      created = (await client.uploadReleaseFile(fleet, digest, content)).created;
    } catch (err) {
      throw new InContext(`uploading ${path.basename(file)} (${digest.slice(0, 19)}…) to fleet '${fleet}'`, err);
    }
    if (created) {
      sent += 1;
      bytes += content.length;
    }
  }
  progress(
    `files: ${blobs.size} in the release, ${sent} uploaded (${bytes} bytes), ${blobs.size - sent} already there`,
  );
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Ready: the release passed verification and every accepted device of the fleet whose target it is reports it
 * running (converged on it). Failed: verification failed, or the time ran out (the devices' states say how far they
 * got). A device reporting an error is shown but not yet a failure: it keeps retrying, as the supervisor does.
 */
export async function waitForRelease(
  client: ApiClient,
  pushed: Release,
  timeoutMs: number,
  intervalMs: number,
  progress: (line: string) => void,
): Promise<WaitOutcome> {
  const deadline = Date.now() + timeoutMs;
  let release = pushed;
  let said = '';
  const say = (line: string): void => {
    if (line !== said) progress(line);
    said = line;
  };
  while (release.status === 'pending') {
    if (Date.now() >= deadline)
      return { ready: false, reason: `release ${release.version} is still being verified`, devices: [] };
    say(`release ${release.version}: verifying its images`);
    await sleep(intervalMs);
    release = await client.getRelease(pushed.fleet, pushed.id);
  }
  if (release.status === 'failed') {
    const f = release.verification?.failure;
    return {
      ready: false,
      reason: `release ${release.version} failed verification${f ? `: service '${f.service}' (${f.image}): ${f.reason}` : ''}`,
      devices: [],
    };
  }
  for (;;) {
    const devices = (await client.listDevices(pushed.fleet)).filter(
      (d) => (d.authStatus === undefined || d.authStatus === 'accepted') && d.targetRelease === release.version,
    );
    const view = devices.map((d) => ({
      uuid: d.uuid,
      name: d.name,
      online: d.online,
      runningRelease: d.runningRelease,
      updateStatus: d.updateStatus,
      error: d.error,
    }));
    const running = devices.filter((d) => d.runningRelease === release.version && d.updateStatus === 'converged');
    if (running.length === devices.length) {
      if (devices.length === 0)
        progress(`release ${release.version} is ready; no device of fleet '${pushed.fleet}' tracks it`);
      return { ready: true, reason: null, devices: view };
    }
    const errors = devices.filter((d) => d.updateStatus === 'error' && d.error !== null);
    say(
      `release ${release.version}: ${running.length} of ${devices.length} device(s) run it` +
        (errors.length === 0 ? '' : `; ${errors.map((d) => `${d.name}: ${d.error}`).join('; ')}`),
    );
    if (Date.now() >= deadline)
      return {
        ready: false,
        reason: `only ${running.length} of ${devices.length} device(s) run release ${release.version} after ${Math.round(timeoutMs / 1000)} s`,
        devices: view,
      };
    await sleep(intervalMs);
  }
}

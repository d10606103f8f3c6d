// Before a fleet push builds anything: every service that runs a ready image (`image:`) must have an image for each
// platform the fleet's device types need, or devices of that type could never run the release. Read from the
// image's registry (its manifest list, or its config); the API's own registry with the user's login, any other
// anonymously (the Skiff login is never sent to another registry's token server).
import { type PlatformName, platformNameOf } from '../../protocol/device-types.js';
import { parseImageReference } from '../../protocol/image-reference.js';
import { messageOf } from '../../lib/errors.js';
import { imagePlatforms } from '../../lib/registry/image-index.js';
import { pushRegistryClient } from './registry-client.js';
import type { RegistryCredentials } from './image-pusher.js';

export interface ImageCheckContext {
  fleet: string;
  deviceTypes: readonly string[];
  /** host:port of the API's registry, whose credentials `credentials` are. */
  apiRegistry: string | null;
  credentials?: RegistryCredentials;
  env: NodeJS.ProcessEnv;
  progress(line: string): void;
}

/** Throws naming the service, the image and the platform it lacks; a registry that cannot be asked is a warning. */
export async function checkImagePlatforms(
  services: readonly { service: string; image: string }[],
  platforms: readonly PlatformName[],
  ctx: ImageCheckContext,
): Promise<void> {
  const client = pushRegistryClient({
    registry: ctx.apiRegistry,
    credentials:
      ctx.credentials === undefined
        ? undefined
        : { username: ctx.credentials.username, password: ctx.credentials.password },
    env: ctx.env,
  });
  for (const { service, image } of services) {
    const shown = JSON.stringify(image.slice(0, 200));
    let offered: string[] | null;
    try {
      const ref = parseImageReference(image);
      const found = await imagePlatforms(client, ref, ref.digest ?? ref.tag ?? 'latest', AbortSignal.timeout(60_000));
      offered = found === null ? null : found.flatMap((p) => platformNameOf(p) ?? []);
    } catch (err) {
      ctx.progress(`warning: service '${service}': cannot tell which platforms image ${shown} has (${messageOf(err)})`);
      continue;
    }
    if (offered === null) {
      ctx.progress(
        `warning: service '${service}': image ${shown} is not in its registry (yet); its platforms are not checked`,
      );
      continue;
    }
    const missing = platforms.filter((p) => !offered.includes(p));
    if (missing.length > 0) {
      throw new Error(
        `service '${service}': image ${shown} has no image for ${missing.join(', ')} (it has ${offered.length === 0 ? 'no platform Skiff knows' : [...new Set(offered)].join(', ')}), which fleet '${ctx.fleet}' needs for its device types ${ctx.deviceTypes.join(', ')}; use a multi-platform image, or build the service`,
      );
    }
  }
}

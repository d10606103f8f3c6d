// How an image the supervisor loaded itself is found again. `docker load` can only tag (REPO:TAG), never record a
// digest reference, so an image delivered by Skiff's own downloader has no RepoDigests and the engine does not
// resolve REGISTRY/REPO@sha256:... for it. Skiff tags it REGISTRY/REPO:sha256-HEX (the manifest digest the target
// names) and creates containers from that tag; an image the engine pulled itself answers to its digest reference.
import type { Engine } from '../engine/engine.js';
import { parseDigestReference } from '../registry/client.js';

/** REGISTRY/REPO:sha256-HEX for REGISTRY/REPO@sha256:HEX. */
export function localImageRef(digestRef: string): string {
  const { registry, repository, digest } = parseDigestReference(digestRef);
  return `${registry}/${repository}:${digest.replace(':', '-')}`;
}

/**
 * The reference under which the engine has the target's image (for hasImage checks and container create), or
 * undefined if it has none: the local tag first, then the digest reference of an engine pull.
 */
export async function resolveLocalImage(
  engine: Pick<Engine, 'inspectImage'>,
  digestRef: string,
): Promise<string | undefined> {
  // A reference without a registry host cannot have been loaded by Skiff: only the engine's own pull counts.
  const local = /^[^/]+\/[^@]+@sha256:[a-f0-9]{64}$/.test(digestRef) ? localImageRef(digestRef) : undefined;
  if (local !== undefined && (await engine.inspectImage(local)) !== undefined) return local;
  if ((await engine.inspectImage(digestRef)) !== undefined) return digestRef;
  return undefined;
}

/** The digest reference a container's image stands for: the inverse of localImageRef, other references as they are. */
export function digestRefOf(imageRef: string): string {
  const match = /^(.+):sha256-([a-f0-9]{64})$/.exec(imageRef);
  return match === null ? imageRef : `${match[1]}@sha256:${match[2]}`;
}

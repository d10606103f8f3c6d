// How an image the supervisor loaded itself is found again. `docker load` can only tag (REPO:TAG), never record a
// digest reference, so an image delivered by Skiff's own downloader has no RepoDigests and the engine does not
// resolve REGISTRY/REPO@sha256:... for it. Skiff tags it REGISTRY/REPO:sha256-HEX (the manifest digest the target
// names) and creates containers from that tag; an image the engine pulled itself answers to its digest reference.
import type { Engine } from '../engine/engine.js';
import { parseDigestReference, parseImageReference } from '../../protocol/image-reference.js';

/**
 * A digest reference that names its registry (protocol/image-reference.ts): Skiff's fetcher delivers those, the
 * engine pulls the others (Docker Hub). One that breaks the grammar goes to the fetcher too, whose parse says what
 * is wrong with it.
 */
export function namesRegistryHost(image: string): boolean {
  try {
    const ref = parseImageReference(image);
    return ref.domain !== undefined && ref.digest !== undefined;
  } catch {
    return true;
  }
}

/** REGISTRY/REPO:sha256-HEX for REGISTRY/REPO[:TAG]@sha256:HEX (the digest names the image; a tag is dropped). */
export function localImageRef(digestRef: string): string {
  const { name, digest } = parseDigestReference(digestRef);
  return `${name}:${digest.replace(':', '-')}`;
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
  const local = loadedTagOf(digestRef);
  if (local !== undefined && (await engine.inspectImage(local)) !== undefined) return local;
  if ((await engine.inspectImage(digestRef)) !== undefined) return digestRef;
  return undefined;
}

/** The tag Skiff's fetcher would have loaded `digestRef` under; undefined for what only the engine pulls. */
function loadedTagOf(digestRef: string): string | undefined {
  try {
    return parseDigestReference(digestRef).domain === undefined ? undefined : localImageRef(digestRef);
  } catch {
    return undefined;
  }
}

/** The digest reference a container's image stands for: the inverse of localImageRef, other references as they are. */
export function digestRefOf(imageRef: string): string {
  try {
    const { name, tag, digest } = parseImageReference(imageRef);
    const hex = tag?.startsWith('sha256-') === true && digest === undefined ? tag.slice('sha256-'.length) : '';
    return /^[a-f0-9]{64}$/.test(hex) ? `${name}@sha256:${hex}` : imageRef;
  } catch {
    return imageRef;
  }
}

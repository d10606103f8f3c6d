// Image references as the distribution project's grammar defines them (distribution/reference), parsed in one
// place for the CLI, the API and the device: a reference the API accepts in a release is one every device can
// fetch. The grammar:
//   reference      := name [":" tag] ["@" digest]
//   name           := [domain "/"] path-component ["/" path-component]*     (at most 255 characters)
//   domain         := host [":" port]        host: DNS name, IPv4 address or [IPv6 address]
//   path-component := [a-z0-9]+ (separator [a-z0-9]+)*                      separator: "." "_" "__" "-"+
//   tag            := [\w][\w.-]{0,127}
//   digest         := algorithm ":" hex      (sha256: exactly 64 lowercase hex digits)
// The first component is a domain when it holds "." or ":", is "localhost" or has an upper-case letter (Docker's
// rule); without one the image is on Docker Hub, and a one-component Hub name is under "library/".
// `NAME:TAG@DIGEST` is valid: the digest names the image, the tag is only a label and is ignored for fetching.

export const DOCKER_HUB = 'docker.io';

export interface ImageReference {
  /** The name as written (domain included when given), without tag or digest. */
  name: string;
  /** host[:port] as written; undefined when the reference names no registry (Docker Hub). */
  domain: string | undefined;
  /** host[:port] of the registry the image is in: the domain, else "docker.io". */
  registry: string;
  /** The repository in that registry ("library/nginx" for Docker Hub's "nginx"). */
  repository: string;
  tag: string | undefined;
  /** algorithm:hex; when present it names the image (any tag is ignored). */
  digest: string | undefined;
}

/** A reference pinned by digest, as releases and target states carry images. */
export type DigestReference = ImageReference & { digest: string };

/** What is wrong with a reference and what the grammar allows instead. */
export class ImageReferenceError extends Error {
  constructor(
    readonly reference: string,
    readonly problem: string,
  ) {
    super(`image reference '${reference}' ${problem}`);
    this.name = 'ImageReferenceError';
  }
}

const NAME_MAX = 255;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[0-9a-fA-F:.]+\]$/;
const PORT = /^[0-9]+$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):([0-9a-fA-F]{32,})$/;
const SHA256_HEX = /^[a-f0-9]{64}$/;

const PATH_RULE =
  "repository path components are lowercase letters and digits, separated by '.', '_', '__' or '-' (e.g. fleet/my-app)";
const TAG_RULE = "a tag is 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'";
const DIGEST_RULE = 'a digest is algorithm:hex, e.g. sha256: and 64 lowercase hex digits';
const DOMAIN_RULE = 'a registry is host[:port], the host a DNS name, an IPv4 address or a bracketed IPv6 address';

/** Docker's rule: a first component with "." or ":", "localhost", or one with upper case names a registry. */
function isDomain(first: string): boolean {
  return /[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first;
}

function domainProblem(domain: string): string | null {
  const match = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(domain);
  const host = match?.[1] ?? '';
  const port = match?.[2];
  if (port !== undefined && !PORT.test(port)) return `has registry '${domain}' whose port '${port}' is not a number`;
  const hostOk = host.startsWith('[') ? IPV6_HOST.test(host) : host.split('.').every((c) => DOMAIN_COMPONENT.test(c));
  return hostOk ? null : `has registry '${domain}', which is not a valid host: ${DOMAIN_RULE}`;
}

function digestProblem(digest: string): string | null {
  const match = DIGEST.exec(digest);
  if (match === null) return `has digest '${digest}', which is not valid: ${DIGEST_RULE}`;
  if (match[1] === 'sha256' && !SHA256_HEX.test(match[2] ?? ''))
    return `has digest '${digest}': a sha256 digest is exactly 64 lowercase hex digits`;
  return null;
}

/** Whether `text` is one repository path component (what a service name must be to name a repository). */
export function isPathComponent(text: string): boolean {
  return PATH_COMPONENT.test(text);
}

/** Whether `text` is a valid tag. */
export function isTag(text: string): boolean {
  return TAG.test(text);
}

/** Parses `text` by the grammar above; throws an ImageReferenceError saying what is wrong and what is allowed. */
export function parseImageReference(text: string): ImageReference {
  if (text === '') throw new ImageReferenceError(text, 'is empty: give [registry/]repository[:tag][@digest]');
  if (/\s/.test(text)) throw new ImageReferenceError(text, 'holds white space, which no part of a reference may');
  const at = text.indexOf('@');
  if (at !== -1 && text.indexOf('@', at + 1) !== -1)
    throw new ImageReferenceError(text, "has more than one '@': only the digest follows an '@'");
  const digest = at === -1 ? undefined : text.slice(at + 1);
  const rest = at === -1 ? text : text.slice(0, at);
  if (digest !== undefined) {
    const problem = digestProblem(digest);
    if (problem !== null) throw new ImageReferenceError(text, problem);
  }
  // A tag follows the last ':' after the last '/': a ':' before it is a registry port.
  const colon = rest.lastIndexOf(':');
  const tagged = colon > rest.lastIndexOf('/');
  const tag = tagged ? rest.slice(colon + 1) : undefined;
  const name = tagged ? rest.slice(0, colon) : rest;
  if (tag !== undefined && !TAG.test(tag)) throw new ImageReferenceError(text, `has tag '${tag}': ${TAG_RULE}`);
  if (name === '') throw new ImageReferenceError(text, 'names no repository: give [registry/]repository');
  if (name.length > NAME_MAX)
    throw new ImageReferenceError(text, `has a name of ${name.length} characters; at most ${NAME_MAX} are allowed`);
  const slash = name.indexOf('/');
  const domain = slash !== -1 && isDomain(name.slice(0, slash)) ? name.slice(0, slash) : undefined;
  if (domain !== undefined) {
    const problem = domainProblem(domain);
    if (problem !== null) throw new ImageReferenceError(text, problem);
  }
  const path = domain === undefined ? name : name.slice(slash + 1);
  for (const component of path.split('/')) {
    if (component === '') throw new ImageReferenceError(text, `has an empty path component: ${PATH_RULE}`);
    if (!PATH_COMPONENT.test(component))
      throw new ImageReferenceError(text, `has path component '${component}', which is not allowed: ${PATH_RULE}`);
  }
  const repository = domain === undefined && !path.includes('/') ? `library/${path}` : path;
  return { name, domain, registry: domain ?? DOCKER_HUB, repository, tag, digest };
}

/**
 * A reference pinned by a sha256 digest (REGISTRY/REPOSITORY[:TAG]@sha256:HEX), as devices must run exactly what
 * was released; throws saying what is wrong otherwise.
 */
export function parseDigestReference(text: string): DigestReference {
  const ref = parseImageReference(text);
  if (ref.digest === undefined)
    throw new ImageReferenceError(text, 'is not pinned by digest: write it as [registry/]repository@sha256:<64 hex>');
  if (!ref.digest.startsWith('sha256:'))
    throw new ImageReferenceError(text, `is pinned by '${ref.digest.split(':')[0]}': images are pinned by sha256`);
  return { ...ref, digest: ref.digest };
}

/** Whether `text` is a valid reference pinned by a sha256 digest. */
export function isDigestReference(text: string): boolean {
  try {
    parseDigestReference(text);
    return true;
  } catch {
    return false;
  }
}

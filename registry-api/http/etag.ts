// Entity tags for answers devices poll: the same content gives the same tag, across restarts and key order, so
// an unchanged target costs a 304 and no body.
import { canonicalJson, sha256Hex } from '../../protocol/canonical-json.js';

/** A strong ETag: the quoted sha256 of the canonical JSON (the bytes a target's signature covers too). */
export function etagOf(value: unknown): string {
  return `"${sha256Hex(canonicalJson(value))}"`;
}

/** Whether an If-None-Match header names `etag` (weak comparison, as RFC 9110 asks for If-None-Match). */
export function isFresh(header: string | undefined, etag: string): boolean {
  // What a device sends back nearly every poll: the tag as given, nothing to take apart.
  if (header === etag) return true;
  if (header === undefined || header.trim() === '') return false;
  if (header.trim() === '*') return true;
  const opaque = (tag: string): string => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => opaque(tag) === opaque(etag));
}

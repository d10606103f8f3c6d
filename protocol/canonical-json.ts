// One JSON text per value, whatever order its keys were inserted in: the bytes an ETag hashes and a target
// signature covers, and the input of every "did it change" comparison. Both ends compute it from the parsed value,
// so whitespace or key order changed on the way (a proxy re-encoding the body) cannot break a signature, while any
// change of content does.
import { createHash } from 'node:crypto';

/** JSON with object keys sorted (by UTF-16 code units) at every level, no spaces; undefined members left out. */
export function canonicalJson(value: unknown): string {
  // A replacer sees values after toJSON (a Date arrives as its string), so only plain objects need sorting.
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    // No prototype, so a member named "__proto__" (JSON.parse makes it an own property) stays a member.
    const sorted = Object.create(null) as Record<string, unknown>;
    for (const key of Object.keys(v).sort()) sorted[key] = (v as Record<string, unknown>)[key];
    return sorted;
  });
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

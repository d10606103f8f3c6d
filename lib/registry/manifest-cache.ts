// Manifests a registry client read lately, by registry, repository and digest. Before an update downloads an image the
// disk check reads its manifest, and then the fetcher does: on a metered link the second GET is waste. A manifest
// named by digest is content-addressed (its bytes are checked against the digest before they are kept), so an
// entry never goes stale; the cache is bounded because a device runs for years through many releases.

export interface CachedManifest {
  mediaType: string;
  digest: string;
  body: Buffer;
}

export const MANIFEST_CACHE_ENTRIES = 64;
/** Manifests are a few KB; a huge one (a manifest list of hundreds of platforms) is not worth holding. */
export const MANIFEST_CACHE_BYTES = 2 * 1024 * 1024;

export class ManifestCache {
  /** Oldest use first: Map keeps insertion order, and a hit moves its entry to the end. */
  private readonly entries = new Map<string, CachedManifest>();
  private bytes = 0;

  constructor(
    private readonly maxEntries = MANIFEST_CACHE_ENTRIES,
    private readonly maxBytes = MANIFEST_CACHE_BYTES,
  ) {}

  private static key(registry: string, repository: string, digest: string): string {
    return `${registry}/${repository}@${digest}`;
  }

  get(registry: string, repository: string, digest: string): CachedManifest | undefined {
    const key = ManifestCache.key(registry, repository, digest);
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  /** Keeps `manifest`, whose bytes the caller has checked against its digest; drops the least recently used beyond the bounds. */
  set(registry: string, repository: string, manifest: CachedManifest): void {
    if (manifest.body.length > this.maxBytes) return;
    const key = ManifestCache.key(registry, repository, manifest.digest);
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key);
      this.bytes -= old.body.length;
    }
    this.entries.set(key, manifest);
    this.bytes += manifest.body.length;
    for (const [oldest, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= entry.body.length;
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

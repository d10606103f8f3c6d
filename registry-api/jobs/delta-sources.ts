// Which releases a new release's delta patches start from. A patch only saves bytes for a device that holds its base
// layer, so the best sources are what the fleet's devices report running (most devices first), then the fleet's
// latest earlier ready releases (devices that were offline, or are mid-update). Capped: every source costs a diff per
// changed layer on the server and a patch in the registry.
import type { ReleaseRecord, Store } from '../store/index.js';

/** Sources per release by default: covers a fleet mid-rollout (old, older) plus one stray. */
export const DEFAULT_MAX_SOURCES = 3;

/** Release ids the fleet's devices report, with how many devices run each (a service's own release counts too). */
async function reportedReleases(store: Store, fleet: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const device of await store.devices.list({ fleet })) {
    const report = device.lastReport;
    if (report === null) continue;
    // A device mid-update runs services of two releases: both are bases it holds.
    const held = new Set(
      [report.releaseId, ...report.services.map((s) => s.releaseId)].filter(
        (id): id is string => typeof id === 'string' && id !== '',
      ),
    );
    for (const id of held) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** Up to `max` distinct releases other than `release`: reported ones by device count, then earlier ready ones, newest first. */
export async function deltaSources(
  store: Store,
  release: ReleaseRecord,
  max = DEFAULT_MAX_SOURCES,
): Promise<ReleaseRecord[]> {
  const sources: ReleaseRecord[] = [];
  const taken = new Set([release.id]);
  const reported = [...(await reportedReleases(store, release.fleet)).entries()].sort(
    (a, b) => b[1] - a[1] || a[0].localeCompare(b[0]),
  );
  for (const [id] of reported) {
    if (sources.length >= max) return sources;
    if (taken.has(id)) continue;
    taken.add(id);
    const found = await store.releases.get(id);
    if (found !== null) sources.push(found);
  }
  const earlier = (await store.releases.list(release.fleet)).filter(
    (r) => !taken.has(r.id) && r.status === 'ready' && r.createdAt <= release.createdAt,
  );
  return [...sources, ...earlier].slice(0, max);
}

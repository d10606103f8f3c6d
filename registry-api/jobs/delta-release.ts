// Delta generation, queued once a release is ready: patches from the images of the fleet's earlier ready releases
// (what its devices run, or ran until lately) to this release's images, per service. The release is ready before and
// whatever happens here: a failure only means devices pull whole layers, so a last failed attempt is logged, not
// recorded on the release.
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import { generateImageDeltas, type DeltaSettings } from '../delta/generate.js';
import type { RegistryIo } from '../delta/registry-io.js';
import type { ReleaseRecord, Store } from '../store/index.js';
import type { Attempt } from './index.js';

export interface DeltaJobDeps {
  store: Store;
  io: RegistryIo;
  settings: DeltaSettings;
  logger: Logger;
  /** How many earlier ready releases count as sources. */
  sourceReleases?: number;
}

export interface DeltaJob {
  releaseId: string;
}

/** The fleet's ready releases older than `release`, newest first. */
async function earlierReleases(store: Store, release: ReleaseRecord, limit: number): Promise<ReleaseRecord[]> {
  const all = await store.releases.list(release.fleet);
  return all
    .filter((r) => r.id !== release.id && r.status === 'ready' && r.createdAt <= release.createdAt)
    .slice(0, limit);
}

export function deltaHandlers(deps: DeltaJobDeps): { generateDeltas(job: DeltaJob, attempt: Attempt): Promise<void> } {
  return {
    async generateDeltas({ releaseId }, attempt) {
      const release = await deps.store.releases.get(releaseId);
      if (release === null || release.status !== 'ready') return;
      const sources = await earlierReleases(deps.store, release, deps.sourceReleases ?? 2);
      const fields = { fleet: release.fleet, release: release.id, version: release.version };
      if (sources.length === 0) {
        deps.logger.info(fields, 'no earlier ready release: no delta patches to make');
        return;
      }
      let failed: string | null = null;
      for (const [service, image] of Object.entries(release.images).sort(([a], [b]) => a.localeCompare(b))) {
        const from = [...new Set(sources.map((r) => r.images[service]).filter((i): i is string => i !== undefined && i !== image))];
        if (from.length === 0) continue;
        try {
          const results = await generateImageDeltas(deps.io, image, from, deps.settings, deps.logger.child({ service }));
          for (const r of results) {
            deps.logger.info({ ...fields, service, patches: r.patches.length, skipped: r.skipped }, 'delta patches for service');
          }
        } catch (err) {
          failed = `service ${service} (${image}): ${messageOf(err)}`;
          deps.logger.warn({ ...fields, service, err: messageOf(err), attempt: attempt.number }, 'delta generation failed for service');
        }
      }
      // The target image's registry did not answer: worth another try, unless this was the last.
      if (failed !== null && !attempt.final) throw new Error(`delta generation for release ${release.id}: ${failed}`);
    },
  };
}

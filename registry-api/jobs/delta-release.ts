// Delta generation, queued once a release is ready: patches from the images of the releases the fleet's devices
// report running, and of its earlier ready releases (jobs/delta-sources.ts), to this release's images, per service.
// The release is ready before and whatever happens here: a failure only means devices pull whole layers, so a last
// failed attempt is logged, not recorded on the release.
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import { generateImageDeltas, type DeltaSettings } from '../delivery/delta/generate.js';
import type { RegistryClient } from '../../lib/registry/client.js';
import type { Store } from '../store/index.js';
import { DEFAULT_MAX_SOURCES, deltaSources } from './delta-sources.js';
import type { Attempt } from './index.js';

export interface DeltaJobDeps {
  store: Store;
  io: RegistryClient;
  settings: DeltaSettings;
  logger: Logger;
  /** How many releases at most count as sources (DEFAULT_MAX_SOURCES). */
  sourceReleases?: number;
}

export interface DeltaJob {
  releaseId: string;
}

export function deltaHandlers(deps: DeltaJobDeps): { generateDeltas(job: DeltaJob, attempt: Attempt): Promise<void> } {
  return {
    async generateDeltas({ releaseId }, attempt) {
      const release = await deps.store.releases.get(releaseId);
      if (release === null || release.status !== 'ready') return;
      const sources = await deltaSources(deps.store, release, deps.sourceReleases ?? DEFAULT_MAX_SOURCES);
      const fields = { fleet: release.fleet, release: release.id, version: release.version };
      if (sources.length === 0) {
        deps.logger.info(
          fields,
          "no release runs on the fleet's devices and none is earlier: no delta patches to make",
        );
        return;
      }
      deps.logger.info({ ...fields, sources: sources.map((r) => r.version) }, 'delta sources');
      let failed: string | null = null;
      for (const [service, image] of Object.entries(release.images).sort(([a], [b]) => a.localeCompare(b))) {
        const from = [
          ...new Set(sources.map((r) => r.images[service]).filter((i): i is string => i !== undefined && i !== image)),
        ];
        if (from.length === 0) continue;
        try {
          const results = await generateImageDeltas(
            deps.io,
            image,
            from,
            deps.settings,
            deps.logger.child({ service }),
          );
          for (const r of results) {
            deps.logger.info(
              { ...fields, service, patches: r.patches.length, skipped: r.skipped },
              'delta patches for service',
            );
          }
        } catch (err) {
          failed = `service ${service} (${image}): ${messageOf(err)}`;
          deps.logger.warn(
            { ...fields, service, err: messageOf(err), attempt: attempt.number },
            'delta generation failed for service',
          );
        }
      }
      // The target image's registry did not answer: worth another try, unless this was the last.
      if (failed !== null && !attempt.final) throw new Error(`delta generation for release ${release.id}: ${failed}`);
    },
  };
}

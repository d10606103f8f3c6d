// Releases of a fleet: a compose file normalised into service specs with pinned images, versioned per fleet.
// A release is created pending and queued for verification (jobs/verify-release.ts); it becomes ready, and
// reachable for devices, only once every image it names was found in its registry.
import { parse as parseYaml } from 'yaml';
import { canonicalJson, sha256Hex } from '../../../protocol/canonical-json.js';
import { normalizeCompose } from '../../../protocol/compose/normalize.js';
import { MAX_RELEASE_FILES_TOTAL_BYTES, type LocalSource, type LocalSources } from '../../../protocol/compose/files.js';
import type { ServiceSpec } from '../../../protocol/target-state.js';
import type { ReleaseFileStore } from '../../store/index.js';
import { parseImageReference } from '../../../protocol/image-reference.js';
import { ValidationError } from '../../../protocol/validate.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import { stampOf } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { publishReleaseCreated } from '../../events/publish.js';
import { badRequest, notFound, ProblemError } from '../problem.js';
import type { Register } from '../register.js';
import { releaseView } from '../views.js';
import { fleetOr404, refuseArchived } from './fleets.js';
import { requireReleaseSignature } from './release-keys.js';

/**
 * What a push copied: service -> the image the compose file names where the release pins another one (a tag the
 * CLI resolved and copied into the fleet's registry). Only valid references are kept: the text is shown to people.
 */
function sourcesOf(compose: string, pinned: Record<string, string>): Record<string, string> {
  const doc: unknown = parseYaml(compose);
  const services = typeof doc === 'object' && doc !== null ? (doc as { services?: unknown }).services : undefined;
  if (typeof services !== 'object' || services === null) return {};
  const sources: Record<string, string> = {};
  for (const [name, image] of Object.entries(pinned)) {
    const written = (services as Record<string, { image?: unknown } | null | undefined>)[name]?.image;
    if (typeof written !== 'string' || written === image) continue;
    try {
      parseImageReference(written);
      sources[name] = written;
    } catch {
      // The normaliser took the release with the pinned image; a broken text beside it is simply not shown.
    }
  }
  return sources;
}
import { initialApproval, reviewReasons } from '../../../protocol/release-review.js';

/** The packed-file facts of a push as the normaliser asks for them; only the request's own keys count. */
function sourcesFrom(files: Readonly<Record<string, LocalSource>>): LocalSources {
  return (projectPath) => (Object.hasOwn(files, projectPath) ? files[projectPath] : undefined);
}

/**
 * Every file the services mount must have been uploaded to the fleet, and together they stay within the limit:
 * a device must find each blob it is told to fetch, and a release is configuration, not a data transfer.
 */
async function requireReleaseFiles(
  files: ReleaseFileStore,
  fleet: string,
  services: readonly ServiceSpec[],
): Promise<void> {
  const sizes = new Map<string, number>();
  for (const spec of services)
    for (const mount of spec.files ?? []) for (const file of mount.files) sizes.set(file.digest, file.size);
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);
  if (total > MAX_RELEASE_FILES_TOTAL_BYTES) {
    throw badRequest(
      'release-files-too-large',
      `the release's files add up to ${total} bytes; a release carries at most ${MAX_RELEASE_FILES_TOTAL_BYTES} bytes of files (put larger data in an image or a volume)`,
    );
  }
  const missing = await files.missing(fleet, [...sizes.keys()]);
  if (missing.length > 0) {
    throw new ProblemError(
      409,
      'release-files-missing',
      `${missing.length} file(s) the release mounts were not uploaded to fleet '${fleet}' (${missing
        .slice(0, 5)
        .join(', ')}${missing.length > 5 ? ', ...' : ''}): upload each with PUT /v1/fleets/${fleet}/files/DIGEST first`,
    );
  }
}

export function releaseRoutes(on: Register, deps: RouteDeps): void {
  const { store, logger, jobs } = deps;

  on(ROUTES.createRelease, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    refuseArchived(fleet, 'new releases');
    const body = await request.body();
    let normalized: ReturnType<typeof normalizeCompose>;
    try {
      normalized = normalizeCompose(body.compose, body.images, {
        ...(body.profiles === undefined ? {} : { profiles: body.profiles }),
        ...(body.files === undefined ? {} : { files: sourcesFrom(body.files) }),
      });
    } catch (err) {
      if (err instanceof ValidationError) throw badRequest('invalid-compose', err.message, err.issues);
      throw err;
    }
    await requireReleaseFiles(store.releaseFiles, fleet.name, normalized.services);
    const content = {
      fleet: fleet.name,
      ...(body.version === undefined ? {} : { version: body.version }),
      services: normalized.services,
      volumes: normalized.volumes,
      networks: normalized.networks,
      ...(normalized.networkDefinitions === undefined ? {} : { networkDefinitions: normalized.networkDefinitions }),
      ...(normalized.volumeDefinitions === undefined ? {} : { volumeDefinitions: normalized.volumeDefinitions }),
    };
    await requireReleaseSignature(store.releaseKeys, content, body.signature);
    const images = Object.fromEntries(normalized.services.map((s) => [s.name, s.image]));
    // Same services, digests, volumes and networks as the fleet's newest release: a push of what is already
    // there makes nothing new (a failed release is pushed again, as its images may be there by now). A version
    // given by name asks for a release of its own: it is made, or refused as taken.
    // Absent definitions drop out of the canonical form, so releases without any keep the hash they had.
    const contentHash = sha256Hex(
      canonicalJson({
        services: normalized.services,
        volumes: normalized.volumes,
        networks: normalized.networks,
        networkDefinitions: normalized.networkDefinitions,
        volumeDefinitions: normalized.volumeDefinitions,
      }),
    );
    const newest = await store.releases.latest(fleet.name);
    if (
      newest !== null &&
      newest.contentHash === contentHash &&
      newest.status !== 'failed' &&
      body.version === undefined
    ) {
      logger.info(
        { fleet: fleet.name, release: newest.id, version: newest.version },
        'push unchanged: the newest release already has this content',
      );
      ctx.status = 200;
      ctx.body = { ...releaseView(newest), unchanged: true };
      return;
    }
    // Decided now, by the fleet's rules now: a release devices may run never becomes held later (release-review.ts).
    const reasons = reviewReasons(normalized.services, fleet.review.allowedHostPaths);
    const review = { approval: initialApproval(fleet.review.approval, reasons), reasons };
    const release = await store.releases.create(
      {
        ...(body.signature === undefined ? {} : { signature: body.signature }),
        fleet: fleet.name,
        review,
        ...(body.version === undefined ? {} : { version: body.version }),
        status: 'pending',
        compose: body.compose,
        services: normalized.services,
        volumes: normalized.volumes,
        networks: normalized.networks,
        ...(normalized.networkDefinitions === undefined ? {} : { networkDefinitions: normalized.networkDefinitions }),
        ...(normalized.volumeDefinitions === undefined ? {} : { volumeDefinitions: normalized.volumeDefinitions }),
        images,
        notes: body.notes ?? null,
        createdAt: deps.now().toISOString(),
        sources: sourcesOf(body.compose, body.images),
        contentHash,
      },
      stampOf(ctx, deps.now),
    );
    publishReleaseCreated(deps.events, release);
    // Should queueing fail (Redis down), the release stays pending and is queued again at the next start.
    try {
      await jobs.verifyRelease(release.id);
    } catch (err) {
      logger.error(
        { err, fleet: fleet.name, release: release.id },
        'cannot queue the verification of a new release: it stays pending until the API restarts',
      );
    }
    logger.info(
      {
        fleet: fleet.name,
        release: release.id,
        version: release.version,
        services: release.services.length,
        approval: release.review.approval,
        reviewReasons: release.review.reasons.length,
      },
      'release created, verification queued',
    );
    ctx.status = 201;
    ctx.body = releaseView(release);
  });

  on(ROUTES.listReleases, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    ctx.body = (await store.releases.list(fleet.name)).map(releaseView);
  });

  on(ROUTES.getRelease, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const wanted = request.params.release;
    const release = await store.releases.find(fleet.name, wanted);
    if (!release) throw notFound(`fleet '${fleet.name}' has no release with id or version '${wanted}'`);
    ctx.body = releaseView(release);
  });
}

// Release verification: a release is ready only once every image it names is found, by digest, in its registry.
// An image that is absent fails the release at once (which service, which image, what the registry said); a
// registry that cannot be reached is asked again on the next attempt, and fails the release only on the last.
import type { Logger } from '../../lib/logger.js';
import type { ReleaseVerification } from '../../protocol/api.js';
import type { ImageCheck } from '../delivery/image-check.js';
import type { Store } from '../store/index.js';
import type { Attempt, JobHandlers, Jobs } from './index.js';

/** Thrown to have the queue try again later. */
export class RetryLaterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

export interface VerificationDeps {
  store: Store;
  checkImage(reference: string): Promise<ImageCheck>;
  /** The platforms an image present in its registry has (delivery/image-check.ts platformsOfImage). */
  imagePlatforms?(reference: string): Promise<string[]>;
  now(): Date;
  logger: Logger;
  /** Called once a release turned ready (queues its delta patches). */
  onReady?(releaseId: string): Promise<void>;
}

/** What the check of all images found: the first failing service in name order, or none. */
async function verify(
  images: Record<string, string>,
  deps: VerificationDeps,
  attempt: Attempt,
): Promise<ReleaseVerification['failure']> {
  const services = Object.keys(images).sort();
  const checks = await Promise.all(services.map((service) => deps.checkImage(images[service]!)));
  for (const [i, check] of checks.entries()) {
    if (check.kind === 'absent') return { service: services[i]!, image: images[services[i]!]!, reason: check.reason };
  }
  for (const [i, check] of checks.entries()) {
    if (check.kind !== 'unreachable') continue;
    if (!attempt.final) throw new RetryLaterError(`service ${services[i]!}: ${check.reason}`);
    return {
      service: services[i]!,
      image: images[services[i]!]!,
      reason: `${check.reason} (gave up after ${attempt.number} attempts)`,
    };
  }
  return null;
}

/**
 * The platforms every image of a release has: a device of another platform keeps its release. Null when they
 * cannot be read (a release is not failed for it: devices then get it as before platforms were known).
 */
async function commonPlatforms(images: Record<string, string>, deps: VerificationDeps): Promise<string[] | null> {
  const read = deps.imagePlatforms;
  const references = Object.values(images);
  if (read === undefined || references.length === 0) return null;
  try {
    const each = await Promise.all(references.map((reference) => read(reference)));
    return each.reduce((common, platforms) => common.filter((p) => platforms.includes(p)));
  } catch (err) {
    deps.logger.warn(
      { err: err instanceof Error ? err.message : String(err) },
      'cannot read the platforms of the release images',
    );
    return null;
  }
}

export function verificationHandlers(deps: VerificationDeps): Pick<JobHandlers, 'verifyRelease'> {
  return {
    async verifyRelease({ releaseId }, attempt) {
      const release = await deps.store.releases.get(releaseId);
      if (!release) {
        deps.logger.warn({ release: releaseId }, 'release to verify does not exist (any more): nothing to do');
        return;
      }
      if (release.status !== 'pending') return;
      const failure = await verify(release.images, deps, attempt);
      const platforms = failure === null ? await commonPlatforms(release.images, deps) : null;
      const at = deps.now().toISOString();
      const settled = await deps.store.releases.settle(
        release.id,
        { checkedAt: at, failure },
        { actor: 'system', at },
        platforms,
      );
      const fields = { fleet: release.fleet, release: release.id, version: release.version, status: settled?.status };
      if (failure === null) deps.logger.info(fields, 'release verified: every image is in its registry');
      if (failure === null && settled?.status === 'ready') {
        // Deltas are an optimisation: not queueing them must not fail the verification.
        await deps
          .onReady?.(release.id)
          .catch((err: unknown) => deps.logger.warn({ ...fields, err }, 'could not queue delta generation'));
      } else deps.logger.warn({ ...fields, failure }, 'release failed verification');
    },
  };
}

/** Queues every release still pending: after a restart, or a crash between a release's insert and its queueing. */
export async function resumePendingVerifications(store: Store, jobs: Jobs): Promise<number> {
  const pending = await store.releases.pending();
  for (const release of pending) await jobs.verifyRelease(release.id);
  return pending.length;
}

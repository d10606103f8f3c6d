// Release review: a fleet's rules for which releases wait for an operator's approval, and the approval or rejection
// of a held release (protocol/release-review.ts). Both are audited with who decided and why; an approval moves every
// device of a fleet tracking its latest release (the audit entry bumps the fleet's target generation).
import { ROUTES } from '../../../protocol/http/routes.js';
import type { RouteDeps } from '../../deps.js';
import { stampOf } from '../auth.js';
import { notFound } from '../problem.js';
import type { Register, RouteHandler } from '../register.js';
import type { ReviewDecision } from '../../store/index.js';
import { fleetView, releaseView } from '../views.js';
import { fleetOr404 } from './fleets.js';

export function releaseReviewRoutes(on: Register, deps: RouteDeps): void {
  const { store, logger } = deps;

  on(ROUTES.setFleetReview, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const change = await request.body();
    const updated = await store.fleets.setReview(fleet.name, change, stampOf(ctx, deps.now));
    if (!updated) throw notFound(`fleet '${fleet.name}' does not exist`);
    logger.info({ fleet: fleet.name, review: updated.review }, 'fleet review rules changed');
    ctx.body = fleetView(updated);
  });

  /** Approves or rejects the release the path names; 404 for an unknown fleet or release before the body is read. */
  const decide =
    (decision: ReviewDecision): RouteHandler<typeof ROUTES.approveRelease | typeof ROUTES.rejectRelease> =>
    async (ctx, request) => {
      const fleet = await fleetOr404(store.fleets, request.params.fleet);
      const wanted = request.params.release;
      const release = await store.releases.find(fleet.name, wanted);
      if (!release) throw notFound(`fleet '${fleet.name}' has no release with id or version '${wanted}'`);
      const { note } = await request.body();
      const decided = await store.releases.decide(
        fleet.name,
        release.id,
        decision,
        note ?? null,
        stampOf(ctx, deps.now),
      );
      if (!decided) throw notFound(`release '${wanted}' of fleet '${fleet.name}' is gone`);
      logger.info(
        {
          fleet: fleet.name,
          release: decided.id,
          version: decided.version,
          decision,
          by: stampOf(ctx, deps.now).actor,
        },
        `release ${decision}`,
      );
      ctx.body = releaseView(decided);
    };

  on(ROUTES.approveRelease, decide('approved'));
  on(ROUTES.rejectRelease, decide('rejected'));
}

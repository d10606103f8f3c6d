// Rollouts over HTTP: the handlers of protocol/http/rollouts.ts, over rollouts/rollouts.ts. A rollout found by id
// alone (findRollout) is shown only to a caller who may read its fleet; to others it does not exist.
import { ROUTES } from '../../../protocol/http/routes.js';
import type { RouteDeps } from '../../deps.js';
import {
  actOn,
  createRollout,
  emergencyStop,
  rolloutOr404,
  rolloutView,
  type OperatorAction,
  type RolloutDeps,
} from '../../rollouts/rollouts.js';
import { callerMay, stampOf } from '../auth.js';
import { notFound } from '../problem.js';
import type { Register, RouteHandler } from '../register.js';
import { fleetOr404 } from './fleets.js';

export function rolloutRoutes(on: Register, deps: RouteDeps): void {
  const rollouts: RolloutDeps = { store: deps.store, events: deps.events, logger: deps.logger, now: deps.now };
  const { store } = deps;

  on(ROUTES.createRollout, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const body = await request.body();
    const created = await createRollout(rollouts, fleet, body, stampOf(ctx, deps.now).actor);
    ctx.status = 201;
    ctx.body = await rolloutView(rollouts, created);
  });

  on(ROUTES.listRollouts, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const list = await store.rollouts.list(fleet.name);
    ctx.body = await Promise.all(list.map((rollout) => rolloutView(rollouts, rollout)));
  });

  on(ROUTES.getRollout, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    ctx.body = await rolloutView(rollouts, await rolloutOr404(rollouts, fleet.name, request.params.rollout));
  });

  on(ROUTES.findRollout, async (ctx, request) => {
    const found = await store.rollouts.get(request.params.rollout);
    if (found === null || !callerMay(ctx, 'read', found.fleet))
      throw notFound(`there is no rollout '${request.params.rollout}' in a fleet you may read`);
    ctx.body = await rolloutView(rollouts, found);
  });

  const act =
    (
      action: OperatorAction,
    ): RouteHandler<typeof ROUTES.pauseRollout | typeof ROUTES.resumeRollout | typeof ROUTES.abortRollout> =>
    async (ctx, request) => {
      const fleet = await fleetOr404(store.fleets, request.params.fleet);
      await rolloutOr404(rollouts, fleet.name, request.params.rollout);
      const { note } = await request.body();
      const done = await actOn(
        rollouts,
        fleet.name,
        request.params.rollout,
        action,
        stampOf(ctx, deps.now).actor,
        note ?? null,
      );
      ctx.body = await rolloutView(rollouts, done);
    };
  on(ROUTES.pauseRollout, act('pause'));
  on(ROUTES.resumeRollout, act('resume'));
  on(ROUTES.abortRollout, act('abort'));

  on(ROUTES.stopFleet, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const { note } = await request.body();
    const halted = await emergencyStop(rollouts, fleet.name, stampOf(ctx, deps.now).actor, note ?? null);
    ctx.body = { fleet: fleet.name, halted };
  });
}

// The routes of rollouts: start one, list and read them with each phase's counts, pause, resume and abort one, and
// stop every rollout of a fleet at once. A device's own pin still wins over a rollout: pinned devices the selector
// picks are left out (counted as `excluded`). A device a rollout covers follows it (the rollout's release once
// assigned, the release it had until then or after a rollback) until a later rollout covers it or it is pinned;
// devices no rollout covers follow their fleet's policy.
import { CreateRolloutRequestSchema, FleetStopSchema, RolloutActionRequestSchema, RolloutSchema } from '../rollouts.js';
import { listOf, ok, type RouteSpec } from './route.js';

const ACTION_EXAMPLE = { note: 'meters stopped reading on the canaries' };

export const ROLLOUT_ROUTES = {
  createRollout: {
    method: 'POST',
    path: '/v1/fleets/:fleet/rollouts',
    summary:
      'Send a release to the devices a selector picks, in phases judged by their health; pinned devices stay out (a device pin wins over a rollout)',
    access: { action: 'fleet.rollout' },
    body: CreateRolloutRequestSchema,
    bodyName: 'the new rollout',
    example: {
      release: '1.0.0',
      selector: 'tag:region=north',
      phases: [{ percent: 1 }, { percent: 10 }, { percent: 100 }],
      successPercent: 95,
      failurePercent: 5,
      deadlineSeconds: 1800,
      ratePerMinute: 60,
      rollbackOnHalt: true,
    },
    responses: { 201: ok('The rollout, its first devices assigned', RolloutSchema) },
  },
  listRollouts: {
    method: 'GET',
    path: '/v1/fleets/:fleet/rollouts',
    summary: "The fleet's rollouts, newest first",
    access: { action: 'read' },
    responses: { 200: listOf('The rollouts', RolloutSchema) },
  },
  getRollout: {
    method: 'GET',
    path: '/v1/fleets/:fleet/rollouts/:rollout',
    summary: 'One rollout with the counts of each phase',
    access: { action: 'read' },
    responses: { 200: ok('The rollout', RolloutSchema) },
  },
  findRollout: {
    method: 'GET',
    path: '/v1/rollouts/:rollout',
    summary: 'One rollout by id, whatever its fleet (one the caller may read)',
    access: { action: 'read' },
    responses: { 200: ok('The rollout', RolloutSchema) },
  },
  pauseRollout: {
    method: 'POST',
    path: '/v1/fleets/:fleet/rollouts/:rollout/pause',
    summary: 'Assign no more devices until resumed; assigned devices keep the release',
    access: { action: 'fleet.rollout' },
    body: RolloutActionRequestSchema,
    bodyName: 'the pause request',
    example: ACTION_EXAMPLE,
    responses: { 200: ok('The rollout', RolloutSchema) },
  },
  resumeRollout: {
    method: 'POST',
    path: '/v1/fleets/:fleet/rollouts/:rollout/resume',
    summary: 'Go on with a paused rollout',
    access: { action: 'fleet.rollout' },
    body: RolloutActionRequestSchema,
    bodyName: 'the resume request',
    example: {},
    responses: { 200: ok('The rollout', RolloutSchema) },
  },
  abortRollout: {
    method: 'POST',
    path: '/v1/fleets/:fleet/rollouts/:rollout/abort',
    summary: "End the rollout; the current phase's devices go back to the release they had",
    access: { action: 'fleet.rollout' },
    body: RolloutActionRequestSchema,
    bodyName: 'the abort request',
    example: ACTION_EXAMPLE,
    responses: { 200: ok('The rollout', RolloutSchema) },
  },
  stopFleet: {
    method: 'POST',
    path: '/v1/fleets/:fleet/stop',
    summary: 'Emergency stop: halt every running or paused rollout of the fleet',
    access: { action: 'fleet.rollout' },
    body: RolloutActionRequestSchema,
    bodyName: 'the stop request',
    example: ACTION_EXAMPLE,
    responses: { 200: ok('The rollouts halted', FleetStopSchema) },
  },
} as const satisfies Record<string, RouteSpec>;

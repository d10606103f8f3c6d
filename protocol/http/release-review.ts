// The routes of release review: a fleet's rules for which releases need an operator's approval, and approving or
// rejecting a release held for it (protocol/release-review.ts).
import { FleetSchema, ReleaseSchema } from '../api.js';
import { FleetReviewChangeSchema, ReviewDecisionRequestSchema } from '../release-review.js';
import { ok, type RouteSpec } from './route.js';

export const RELEASE_REVIEW_ROUTES = {
  setFleetReview: {
    method: 'PATCH',
    path: '/v1/fleets/:fleet/review',
    summary: "Change when the fleet's releases need approval and which host paths they may bind without it",
    access: { action: 'release.approve' },
    body: FleetReviewChangeSchema,
    bodyName: 'the review rules',
    example: { approval: 'privileged', allowedHostPaths: ['/var/lib/skiff/tunnel'] },
    responses: { 200: ok('The fleet', FleetSchema) },
  },
  approveRelease: {
    method: 'POST',
    path: '/v1/fleets/:fleet/releases/:release/approve',
    summary: 'Approve a release held for review: devices may get it once its images are verified',
    access: { action: 'release.approve' },
    body: ReviewDecisionRequestSchema,
    bodyName: 'the approval',
    example: { note: 'needs the P1 port' },
    responses: { 200: ok('The release', ReleaseSchema) },
  },
  rejectRelease: {
    method: 'POST',
    path: '/v1/fleets/:fleet/releases/:release/reject',
    summary: 'Reject a release held for review: no device ever gets it',
    access: { action: 'release.approve' },
    body: ReviewDecisionRequestSchema,
    bodyName: 'the rejection',
    example: { note: 'mounts / read-write' },
    responses: { 200: ok('The release', ReleaseSchema) },
  },
} as const satisfies Record<string, RouteSpec>;

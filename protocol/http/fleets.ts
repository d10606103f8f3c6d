// The routes of fleets and their releases: create and list fleets, change their settings, roll a release out
// (pin, track the latest, update now whatever the window), push and read releases.
import {
  CreateFleetRequestSchema,
  CreateReleaseRequestSchema,
  EmptyBodySchema,
  FleetSchema,
  PinRequestSchema,
  ReleaseSchema,
} from '../api.js';
import { FleetSettingsChangeSchema, UpdateNowRequestSchema } from '../fleet-config.js';
import { listOf, ok, type RouteSpec } from './route.js';

const RELEASE_EXAMPLE = {
  compose: 'services:\n  reader:\n    build: .\n',
  images: { reader: `127.0.0.1:5000/meters/reader@sha256:${'b'.repeat(64)}` },
  version: '1.0.0',
  notes: 'first release',
};

const WINDOW_EXAMPLE = {
  updateWindow: { cron: '0 2 * * *', durationMinutes: 120, timezone: 'Europe/Amsterdam' },
  bandwidthCapBytesPerSecond: 250_000,
};

export const FLEET_ROUTES = {
  listFleets: {
    method: 'GET',
    path: '/v1/fleets',
    summary: 'Every fleet',
    access: { action: 'read' },
    responses: { 200: listOf('The fleets (provisioning keys only for operators and admins)', FleetSchema) },
  },
  createFleet: {
    method: 'POST',
    path: '/v1/fleets',
    summary: 'Create a fleet',
    access: { action: 'fleet.create' },
    body: CreateFleetRequestSchema,
    bodyName: 'the new fleet',
    example: { name: 'meters', deviceType: 'raspberrypi4-64', pollIntervalSeconds: 60 },
    responses: { 201: ok('The fleet', FleetSchema) },
  },
  getFleet: {
    method: 'GET',
    path: '/v1/fleets/:fleet',
    summary: 'One fleet',
    access: { action: 'read' },
    responses: { 200: ok('The fleet', FleetSchema) },
  },
  updateFleet: {
    method: 'PATCH',
    path: '/v1/fleets/:fleet',
    summary: "Change a fleet's poll interval, update window, bandwidth cap, lock override",
    access: { action: 'fleet.rollout' },
    body: FleetSettingsChangeSchema,
    bodyName: 'the fleet change',
    example: WINDOW_EXAMPLE,
    responses: { 200: ok('The fleet', FleetSchema) },
  },
  pinFleet: {
    method: 'POST',
    path: '/v1/fleets/:fleet/pin',
    summary: 'Keep the fleet on one release',
    access: { action: 'fleet.rollout' },
    body: PinRequestSchema,
    bodyName: 'the pin request',
    example: { release: '1.0.0' },
    responses: { 200: ok('The fleet', FleetSchema) },
  },
  trackLatest: {
    method: 'POST',
    path: '/v1/fleets/:fleet/track-latest',
    summary: 'Let the fleet follow its newest ready release',
    access: { action: 'fleet.rollout' },
    body: EmptyBodySchema,
    bodyName: 'the track-latest request',
    example: {},
    responses: { 200: ok('The fleet', FleetSchema) },
  },
  fleetUpdateNow: {
    method: 'POST',
    path: '/v1/fleets/:fleet/update-now',
    summary: "Ignore the fleet's update window for a while (default 60 minutes)",
    access: { action: 'fleet.rollout' },
    body: UpdateNowRequestSchema,
    bodyName: 'the update-now request',
    example: { minutes: 60 },
    responses: { 200: ok('The fleet', FleetSchema) },
  },
  createRelease: {
    method: 'POST',
    path: '/v1/fleets/:fleet/releases',
    summary: 'Create a release from a compose file and image digests',
    access: { action: 'release.push' },
    body: CreateReleaseRequestSchema,
    bodyName: 'the new release',
    example: RELEASE_EXAMPLE,
    responses: {
      200: ok("Nothing new: the fleet's newest release already has this content (unchanged: true)", ReleaseSchema),
      201: ok('The release', ReleaseSchema),
    },
  },
  listReleases: {
    method: 'GET',
    path: '/v1/fleets/:fleet/releases',
    summary: "The fleet's releases",
    access: { action: 'read' },
    responses: { 200: listOf('The releases', ReleaseSchema) },
  },
  getRelease: {
    method: 'GET',
    path: '/v1/fleets/:fleet/releases/:release',
    summary: 'One release by id or version, with its image verification',
    access: { action: 'read' },
    responses: { 200: ok('The release', ReleaseSchema) },
  },
} as const satisfies Record<string, RouteSpec>;

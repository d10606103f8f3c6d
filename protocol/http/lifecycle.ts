// The ends of things: archive or delete a fleet, delete a release no device runs or targets, delete a user (never
// the last admin), decommission a device. Each is audited; the audit log keeps what it said of them.
import { Type } from '@sinclair/typebox';
import { EmptyBodySchema, FleetSchema, ReleaseSchema } from '../api.js';
import { UserSchema } from '../access.js';
import { ok, type RouteSpec } from './route.js';

export const DecommissionedDeviceSchema = Type.Object({
  uuid: Type.String(),
  /** Free again: another device may get it. */
  shortId: Type.String(),
  name: Type.String(),
  fleet: Type.String(),
  decommissionedAt: Type.String(),
});

export const LIFECYCLE_ROUTES = {
  archiveFleet: {
    method: 'POST',
    path: '/v1/fleets/:fleet/archive',
    summary: 'Archive a fleet: no new devices or releases; its devices keep running what they run',
    access: { action: 'fleet.create' },
    body: EmptyBodySchema,
    bodyName: 'the archive request',
    example: {},
    responses: { 200: ok('The fleet', FleetSchema) },
  },
  unarchiveFleet: {
    method: 'POST',
    path: '/v1/fleets/:fleet/unarchive',
    summary: 'Take a fleet out of the archive: it admits devices and releases again',
    access: { action: 'fleet.create' },
    body: EmptyBodySchema,
    bodyName: 'the unarchive request',
    example: {},
    responses: { 200: ok('The fleet', FleetSchema) },
  },
  deleteFleet: {
    method: 'DELETE',
    path: '/v1/fleets/:fleet',
    summary: 'Delete a fleet that has no devices, with its releases, groups, keys and settings',
    access: { action: 'fleet.create' },
    responses: { 200: ok('The fleet as it was', FleetSchema) },
  },
  deleteRelease: {
    method: 'DELETE',
    path: '/v1/fleets/:fleet/releases/:release',
    summary: 'Delete a release that no device runs or targets (through a pin, the fleet pin or the latest release)',
    access: { action: 'fleet.rollout' },
    responses: { 200: ok('The release as it was', ReleaseSchema) },
  },
  deleteUser: {
    method: 'DELETE',
    path: '/v1/users/:name',
    summary: 'Delete a user and their API tokens and fleet roles; never the last admin',
    access: { action: 'user.manage' },
    responses: { 200: ok('The user as it was', UserSchema) },
  },
  decommissionDevice: {
    method: 'DELETE',
    path: '/v1/devices/:uuid',
    summary: 'Decommission a device: revoke it, forget its key, tokens, settings and reports, free its short id',
    access: { action: 'device.manage' },
    responses: { 200: ok('What the device was', DecommissionedDeviceSchema) },
  },
} as const satisfies Record<string, RouteSpec>;

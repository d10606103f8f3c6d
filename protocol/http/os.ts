// The people's routes of host OS releases: upload, list, delete, and the fleet and device pins. The bundle download
// devices make is theirs (device-api.ts).
import {
  OsListQuerySchema,
  OsPinRequestSchema,
  OsPinSchema,
  OsReleaseSchema,
  OsUploadQuerySchema,
} from '../os-release.js';
import { listOf, ok, type RouteSpec } from './route.js';

const PIN_EXAMPLE = { release: '2.0.0' };

export const OS_ROUTES = {
  uploadOsRelease: {
    method: 'POST',
    path: '/v1/os-releases',
    summary:
      'Upload a signed RAUC bundle as a host OS release of a device type (checked with `rauc info` when the API has a keyring)',
    access: { action: 'release.push' },
    query: OsUploadQuerySchema,
    rawBody: { mediaType: 'application/octet-stream', description: 'The bundle file (.raucb), streamed' },
    responses: { 201: ok('The host OS release', OsReleaseSchema) },
  },
  listOsReleases: {
    method: 'GET',
    path: '/v1/os-releases',
    summary: 'Host OS releases, newest first, of one device type or all',
    access: { action: 'read' },
    query: OsListQuerySchema,
    responses: { 200: listOf('The releases', OsReleaseSchema) },
  },
  getOsRelease: {
    method: 'GET',
    path: '/v1/os-releases/:id',
    summary: 'One host OS release',
    access: { action: 'read' },
    responses: { 200: ok('The release', OsReleaseSchema) },
  },
  deleteOsRelease: {
    method: 'DELETE',
    path: '/v1/os-releases/:id',
    summary: 'Delete a host OS release and its bundle (409 while pinned)',
    access: { action: 'release.push' },
    responses: { 200: ok('The deleted release', OsReleaseSchema) },
  },
  fleetOs: {
    method: 'GET',
    path: '/v1/fleets/:fleet/os',
    summary: "The fleet's host OS pin",
    access: { action: 'read' },
    responses: { 200: ok('The pin', OsPinSchema) },
  },
  pinFleetOs: {
    method: 'PUT',
    path: '/v1/fleets/:fleet/os',
    summary: "Pin the fleet's devices to a host OS release of the fleet's device type",
    access: { action: 'fleet.rollout' },
    body: OsPinRequestSchema,
    bodyName: 'the host OS pin',
    example: PIN_EXAMPLE,
    responses: { 200: ok('The pin', OsPinSchema) },
  },
  unpinFleetOs: {
    method: 'DELETE',
    path: '/v1/fleets/:fleet/os',
    summary: "Remove the fleet's host OS pin: its devices keep the OS they run",
    access: { action: 'fleet.rollout' },
    responses: { 200: ok('The pin, now none', OsPinSchema) },
  },
  deviceOs: {
    method: 'GET',
    path: '/v1/devices/:uuid/os',
    summary: "The device's own host OS pin and what it gets (its pin, else its fleet's)",
    access: { action: 'read' },
    responses: { 200: ok('The pin', OsPinSchema) },
  },
  pinDeviceOs: {
    method: 'PUT',
    path: '/v1/devices/:uuid/os',
    summary: "Pin one device to a host OS release over its fleet's pin",
    access: { action: 'device.manage' },
    body: OsPinRequestSchema,
    bodyName: 'the host OS pin',
    example: PIN_EXAMPLE,
    responses: { 200: ok('The pin', OsPinSchema) },
  },
  unpinDeviceOs: {
    method: 'DELETE',
    path: '/v1/devices/:uuid/os',
    summary: "Remove the device's own host OS pin: it follows its fleet's again",
    access: { action: 'device.manage' },
    responses: { 200: ok('The pin', OsPinSchema) },
  },
} as const satisfies Record<string, RouteSpec>;

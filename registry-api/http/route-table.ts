// Every route of the API, once: the served OpenAPI document is made from this table and requests are validated
// against its schemas. To add a route: add an entry here, register its handler on the router with the entry's
// method and path, and read its body with `readBody(ctx, ROUTES.theEntry)`. test/integration/api-openapi.test.ts
// fails while the router and this table disagree.
import { Type, type TSchema } from '@sinclair/typebox';
import {
  ApiTokenSchema,
  AuditEntrySchema,
  CreateTokenRequestSchema,
  CreateUserRequestSchema,
  NewApiTokenSchema,
  UserSchema,
} from '../../protocol/access.js';
import {
  CreateFleetRequestSchema,
  CreateReleaseRequestSchema,
  DeviceSummarySchema,
  FleetSchema,
  InfoSchema,
  PinRequestSchema,
  ReleaseSchema,
  UpdateDeviceRequestSchema,
} from '../../protocol/api.js';
import {
  DeviceAuthPendingSchema,
  DeviceAuthRequestSchema,
  DeviceAuthResponseSchema,
  DeviceAuthStatusSchema,
  PreauthorizeRequestSchema,
  RotateKeyRequestSchema,
} from '../../protocol/device-auth.js';
import { DeviceDetailSchema } from '../../protocol/device-detail.js';
import { PartialStateReportSchema } from '../../protocol/state-report.js';
import { TargetStateSchema } from '../../protocol/target-state.js';
import type { RouteSpec } from './route-spec.js';
import { CONFIG_ROUTES } from './route-table/config.js';
import { LOG_ROUTES } from './route-table/logs.js';
import { OS_ROUTES } from './route-table/os.js';
import { PROVISIONING_KEY_ROUTES } from './route-table/provisioning-keys.js';

/** The body of actions that need none: `{}` and nothing in it. */
export const EmptyBodySchema = Type.Object({}, { additionalProperties: false });

const Digits = (max: number) => Type.String({ pattern: `^[1-9][0-9]{0,${max}}$` });

const ok = (description: string, schema?: TSchema) => ({ description, ...(schema ? { schema } : {}) });
const listOf = (description: string, schema: TSchema) => ({ description, schema: Type.Array(schema) });

const RELEASE_EXAMPLE = {
  compose: 'services:\n  reader:\n    build: .\n',
  images: { reader: `127.0.0.1:5000/meters/reader@sha256:${'b'.repeat(64)}` },
  version: '1.0.0',
  notes: 'first release',
};

export const ROUTES = {
  info: {
    method: 'GET',
    path: '/v1/info',
    summary: 'Who this API is, its version, registry and target signing key',
    access: 'public',
    responses: { 200: ok('The API', InfoSchema) },
  },
  openapi: {
    method: 'GET',
    path: '/v1/openapi.json',
    summary: 'This document',
    access: 'public',
    responses: {
      200: {
        description: 'The OpenAPI 3.1 document of this API',
        schema: Type.Object({}),
        mediaType: 'application/json',
      },
    },
  },
  registryToken: {
    method: 'GET',
    path: '/v1/registry/token',
    summary:
      'Token server of the image registry (distribution `auth: token`): a JWT for the scopes the caller may have',
    access: 'registry-credentials',
    query: Type.Object({
      service: Type.String({ minLength: 1, maxLength: 256 }),
      scope: Type.Optional(
        Type.Union([Type.String({ maxLength: 512 }), Type.Array(Type.String({ maxLength: 512 }), { maxItems: 32 })]),
      ),
      account: Type.Optional(Type.String({ maxLength: 128 })),
      client_id: Type.Optional(Type.String({ maxLength: 128 })),
      offline_token: Type.Optional(Type.String({ maxLength: 8 })),
    }),
    responses: {
      200: ok(
        'The token',
        Type.Object({
          token: Type.String(),
          access_token: Type.String(),
          expires_in: Type.Integer(),
          issued_at: Type.String(),
        }),
      ),
    },
  },

  deviceAuth: {
    method: 'POST',
    path: '/v1/device/auth',
    access: 'public',
    summary:
      'A device asks for a token, the body signed by its own Ed25519 key (Skiff-Device-Signature; protocol/device-auth.ts)',
    body: DeviceAuthRequestSchema,
    bodyName: 'the auth request',
    example: {
      uuid: 'aaaaaaaa-0000-4000-8000-00000000000a',
      publicKey: 'MCowBQYDK2VwAyEA3Xs1GZ0Nq2v9PrdwQWcnsx4Rsy1s3i2JqTh8P4XqCsA=',
      deviceType: 'raspberrypi4-64',
      fleet: 'meters',
      provisioningKey: 'provisioning-key-of-the-fleet',
      timestamp: '2026-01-01T00:00:00.000Z',
    },
    responses: {
      200: ok('Admitted: a bearer token for the device routes, until expiresAt', DeviceAuthResponseSchema),
      202: ok('Known, waiting for an operator to accept it', DeviceAuthPendingSchema),
    },
  },
  rotateDeviceKey: {
    method: 'POST',
    path: '/v1/device/:uuid/rotate-key',
    access: 'public',
    summary:
      "Replace the device's key: signed by the current key (Skiff-Device-Signature) and the new one (Skiff-New-Key-Signature)",
    body: RotateKeyRequestSchema,
    bodyName: 'the key rotation',
    example: {
      newPublicKey: 'MCowBQYDK2VwAyEA3Xs1GZ0Nq2v9PrdwQWcnsx4Rsy1s3i2JqTh8P4XqCsA=',
      timestamp: '2026-01-01T00:00:00.000Z',
    },
    responses: { 200: ok('Rotated: the old tokens are dead, this is the new one', DeviceAuthResponseSchema) },
  },
  deviceTarget: {
    method: 'GET',
    path: '/v1/device/:uuid/target',
    summary: "The device's signed target state (ETag, 304 when unchanged)",
    access: 'device',
    responses: {
      200: ok('The target state; the Skiff-Signature header signs it', TargetStateSchema),
      304: ok('Unchanged since the If-None-Match ETag'),
    },
  },
  deviceState: {
    method: 'PATCH',
    path: '/v1/device/:uuid/state',
    access: 'device',
    summary:
      'The device reports what it runs: a full report, or only the changed fields with If-Match (412/409: send a full one)',
    body: PartialStateReportSchema,
    bodyName: 'the state report',
    example: {
      supervisorVersion: '0.1.0',
      updateStatus: 'converged',
      targetReleaseId: null,
      releaseId: null,
      services: [],
      error: null,
      reportedAt: '2026-01-01T00:00:00.000Z',
    },
    responses: { 204: ok('Stored; the ETag header names the report now held') },
  },
  deviceEvents: {
    method: 'GET',
    path: '/v1/device/:uuid/events',
    access: 'device',
    summary: "Push channel (server-sent events): a 'target' event with the target's ETag at once and on every change",
    responses: {
      200: {
        description: 'An endless text/event-stream; heartbeat comments keep proxies from closing it',
        mediaType: 'text/event-stream',
      },
    },
  },

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
  createRelease: {
    method: 'POST',
    path: '/v1/fleets/:fleet/releases',
    summary: 'Create a release from a compose file and image digests',
    access: { action: 'release.push' },
    body: CreateReleaseRequestSchema,
    bodyName: 'the new release',
    example: RELEASE_EXAMPLE,
    responses: { 201: ok('The release', ReleaseSchema) },
  },
  listReleases: {
    method: 'GET',
    path: '/v1/fleets/:fleet/releases',
    summary: "The fleet's releases",
    access: { action: 'read' },
    responses: { 200: listOf('The releases', ReleaseSchema) },
  },

  listDevices: {
    method: 'GET',
    path: '/v1/devices',
    summary: 'Devices, of one fleet or all, optionally of one admission status',
    access: { action: 'read' },
    query: Type.Object({
      fleet: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      status: Type.Optional(DeviceAuthStatusSchema),
    }),
    responses: { 200: listOf('The devices', DeviceSummarySchema) },
  },
  preauthorizeDevice: {
    method: 'POST',
    path: '/v1/devices',
    summary: "Pre-authorize a device's public key: it is accepted on first contact",
    access: { action: 'device.manage' },
    body: PreauthorizeRequestSchema,
    bodyName: 'the pre-authorization',
    example: {
      fleet: 'meters',
      publicKey: 'MCowBQYDK2VwAyEA3Xs1GZ0Nq2v9PrdwQWcnsx4Rsy1s3i2JqTh8P4XqCsA=',
      name: 'kitchen',
    },
    responses: { 201: ok('The device, preauthorized', DeviceDetailSchema) },
  },
  getDevice: {
    method: 'GET',
    path: '/v1/devices/:uuid',
    summary: 'One device with its last state report',
    access: { action: 'read' },
    responses: { 200: ok('The device', DeviceDetailSchema) },
  },
  updateDevice: {
    method: 'PATCH',
    path: '/v1/devices/:uuid',
    summary: 'Rename a device, set its note or tags',
    access: { action: 'device.manage' },
    body: UpdateDeviceRequestSchema,
    bodyName: 'the device change',
    example: { name: 'kitchen', note: 'left of the meter', tags: ['roof'] },
    responses: { 200: ok('The device', DeviceDetailSchema) },
  },
  pinDevice: {
    method: 'POST',
    path: '/v1/devices/:uuid/pin',
    summary: "Keep one device on a release over its fleet's policy",
    access: { action: 'device.manage' },
    body: PinRequestSchema,
    bodyName: 'the pin request',
    example: { release: '1.0.0' },
    responses: { 200: ok('The device', DeviceDetailSchema) },
  },
  deviceTrackFleet: {
    method: 'POST',
    path: '/v1/devices/:uuid/track-fleet',
    summary: 'Let the device follow its fleet again',
    access: { action: 'device.manage' },
    body: EmptyBodySchema,
    bodyName: 'the track-fleet request',
    example: {},
    responses: { 200: ok('The device', DeviceDetailSchema) },
  },
  revokeDevice: {
    method: 'POST',
    path: '/v1/devices/:uuid/revoke',
    summary: 'Revoke the device: its credentials stop working at once',
    access: { action: 'device.manage' },
    body: EmptyBodySchema,
    bodyName: 'the revoke request',
    example: {},
    responses: { 200: ok('The device', DeviceDetailSchema) },
  },
  acceptDevice: {
    method: 'POST',
    path: '/v1/devices/:uuid/accept',
    summary: 'Admit a pending device, or take a rejected or revoked one back',
    access: { action: 'device.manage' },
    body: EmptyBodySchema,
    bodyName: 'the accept request',
    example: {},
    responses: { 200: ok('The device', DeviceDetailSchema) },
  },
  rejectDevice: {
    method: 'POST',
    path: '/v1/devices/:uuid/reject',
    summary: 'Refuse a pending device',
    access: { action: 'device.manage' },
    body: EmptyBodySchema,
    bodyName: 'the reject request',
    example: {},
    responses: { 200: ok('The device', DeviceDetailSchema) },
  },

  me: {
    method: 'GET',
    path: '/v1/me',
    summary: 'The calling user',
    access: { action: 'read' },
    responses: { 200: ok('The user', UserSchema) },
  },
  listUsers: {
    method: 'GET',
    path: '/v1/users',
    summary: 'Every user',
    access: { action: 'user.manage' },
    responses: { 200: listOf('The users', UserSchema) },
  },
  createUser: {
    method: 'POST',
    path: '/v1/users',
    summary: 'Create a user',
    access: { action: 'user.manage' },
    body: CreateUserRequestSchema,
    bodyName: 'the new user',
    example: { name: 'dora', role: 'developer' },
    responses: { 201: ok('The user', UserSchema) },
  },
  listTokens: {
    method: 'GET',
    path: '/v1/users/:name/tokens',
    summary: "A user's API tokens (never the secrets)",
    access: { action: 'token.manage' },
    responses: { 200: listOf('The tokens', ApiTokenSchema) },
  },
  createToken: {
    method: 'POST',
    path: '/v1/users/:name/tokens',
    summary: 'Create an API token; its secret is shown in this answer only',
    access: { action: 'token.manage' },
    body: CreateTokenRequestSchema,
    bodyName: 'the new token',
    example: { label: 'ci' },
    responses: { 201: ok('The token with its secret', NewApiTokenSchema) },
  },
  revokeToken: {
    method: 'DELETE',
    path: '/v1/users/:name/tokens/:id',
    summary: 'Revoke an API token',
    access: { action: 'token.manage' },
    responses: { 200: ok('The revoked token', ApiTokenSchema) },
  },

  audit: {
    method: 'GET',
    path: '/v1/audit',
    summary: 'Who changed what and when, newest first',
    access: { action: 'audit.read' },
    query: Type.Object(
      {
        fleet: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        device: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        before: Type.Optional(Digits(15)),
        limit: Type.Optional(Digits(3)),
      },
      { additionalProperties: false },
    ),
    responses: { 200: listOf('The entries', AuditEntrySchema) },
  },
  ...CONFIG_ROUTES,
  ...OS_ROUTES,
  ...PROVISIONING_KEY_ROUTES,
  ...LOG_ROUTES,
} as const satisfies Record<string, RouteSpec>;

export type RouteName = keyof typeof ROUTES;

/** The table as a list, for the document and for checks. */
export function routeList(): RouteSpec[] {
  return Object.values(ROUTES);
}

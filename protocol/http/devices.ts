// The routes of devices as people see them: list them, read one with its last report, and what operators do to
// one: pre-authorize its key, accept, reject or revoke it, pin it over its fleet, let it follow its fleet again,
// rename, tag and annotate it. Every :uuid takes the device's short id too.
import { Type } from '@sinclair/typebox';
import { DeviceSummarySchema, EmptyBodySchema, PinRequestSchema, UpdateDeviceRequestSchema } from '../api.js';
import { DeviceAuthStatusSchema, PreauthorizeRequestSchema } from '../device-auth.js';
import { DeviceDetailSchema } from '../device-detail.js';
import { SelectorTextSchema } from '../device-groups.js';
import { listOf, ok, type RouteSpec } from './route.js';

export const DEVICE_ROUTES = {
  listDevices: {
    method: 'GET',
    path: '/v1/devices',
    summary: 'Devices, of one fleet or all, optionally of one admission status',
    access: { action: 'read' },
    query: Type.Object({
      fleet: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      status: Type.Optional(DeviceAuthStatusSchema),
      /** A device selector (protocol/device-selector.ts): only the devices it picks. */
      filter: Type.Optional(SelectorTextSchema),
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
} as const satisfies Record<string, RouteSpec>;

// The routes devices call: authenticate with a request signed by their own key (protocol/device-auth.ts), rotate
// that key, poll their signed target, report their state, hold the push channel open, post log batches, download
// host OS bundles. Kept apart from the people's routes so a supervisor loads only these, and only the schemas it
// validates with anyway.
import { Type } from '@sinclair/typebox';
import {
  DeviceAuthPendingSchema,
  DeviceAuthRequestSchema,
  DeviceAuthResponseSchema,
  RotateKeyRequestSchema,
} from '../device-auth.js';
import { LogBatchSchema } from '../device-logs.js';
import { PartialStateReportSchema } from '../state-report.js';
import { TargetStateSchema } from '../target-state.js';
import { ok, type RouteSpec } from './route.js';

const BUNDLE = 'application/octet-stream';

export const DEVICE_API_ROUTES = {
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
  osBundle: {
    method: 'GET',
    path: '/v1/device/:uuid/os-releases/:id/bundle',
    summary: "A host OS bundle of the device's type, for the device: Range (206, 416), If-Range, ETag (the digest)",
    access: 'device',
    responses: {
      200: { description: 'The whole bundle', schema: Type.String(), mediaType: BUNDLE },
      206: { description: 'The part the Range asked for (Content-Range)', schema: Type.String(), mediaType: BUNDLE },
      304: { description: 'Unchanged since the If-None-Match ETag' },
      416: { description: 'The Range lies outside the bundle (Content-Range: bytes */SIZE)' },
    },
  },
  postDeviceLogs: {
    method: 'POST',
    path: '/v1/device/:uuid/logs',
    access: 'device',
    summary: "A batch of the device's log lines: the snapshot a `logs` event asked for, or followed lines",
    body: LogBatchSchema,
    bodyName: 'the log batch',
    example: {
      lines: [
        {
          service: 'reader',
          containerId: 'a'.repeat(64),
          timestamp: '2026-01-01T00:00:00.123456789Z',
          stream: 'stdout',
          text: 'meter read: 1234 kWh',
        },
      ],
      snapshot: { request: '0b0e3c9e-3c1e-4c9e-9d1e-0123456789ab', final: true, services: ['reader'] },
    },
    responses: { 204: { description: 'Taken' } },
  },
} as const satisfies Record<string, RouteSpec>;

// The routes about the API itself: who it is, its OpenAPI document, its Prometheus metrics, and the token service
// of the image registry it stands in front of.
import { Type } from '@sinclair/typebox';
import { EmptyBodySchema, InfoSchema, SigningKeyStatusSchema } from '../api.js';
import { ok, type RouteSpec } from './route.js';

export const SERVICE_ROUTES = {
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
  signingKey: {
    method: 'GET',
    path: '/v1/signing-key',
    summary: "The API's target-signing key and the key rotation running, if any",
    access: { action: 'signing-key.manage' },
    responses: { 200: ok('The signing keys', SigningKeyStatusSchema) },
  },
  rotateSigningKey: {
    method: 'POST',
    path: '/v1/signing-key/rotate',
    summary:
      'Start a key rotation: a next key is made and announced inside every target signed with the current one (repeating it changes nothing)',
    access: { action: 'signing-key.manage' },
    body: EmptyBodySchema,
    bodyName: 'the rotate request',
    example: {},
    responses: { 200: ok('The signing keys', SigningKeyStatusSchema) },
  },
  completeSigningKeyRotation: {
    method: 'POST',
    path: '/v1/signing-key/complete',
    summary:
      'End the key rotation: targets are signed with the next key from now on; devices that never polled during the rotation must be provisioned with it again',
    access: { action: 'signing-key.manage' },
    body: EmptyBodySchema,
    bodyName: 'the complete request',
    example: {},
    responses: { 200: ok('The signing keys', SigningKeyStatusSchema) },
  },
  metrics: {
    method: 'GET',
    path: '/metrics',
    summary: 'Prometheus metrics: an admin API token, or SKIFF_METRICS_TOKEN as bearer token',
    access: { action: 'metrics.read' },
    responses: {
      200: {
        description: 'Prometheus text exposition format',
        schema: Type.String(),
        mediaType: 'text/plain; version=0.0.4',
      },
    },
  },
} as const satisfies Record<string, RouteSpec>;

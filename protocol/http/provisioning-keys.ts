// The routes of a fleet's provisioning keys (protocol/provisioning-keys.ts).
import {
  CreateProvisioningKeyRequestSchema,
  NewProvisioningKeySchema,
  ProvisioningKeySchema,
} from '../provisioning-keys.js';
import { listOf, ok, type RouteSpec } from './route.js';

export const PROVISIONING_KEY_ROUTES = {
  listProvisioningKeys: {
    method: 'GET',
    path: '/v1/fleets/:fleet/provisioning-keys',
    summary: "A fleet's provisioning keys (never the secrets)",
    access: { action: 'provisioning-key.read' },
    responses: { 200: listOf('The keys, oldest first, revoked and expired ones too', ProvisioningKeySchema) },
  },
  createProvisioningKey: {
    method: 'POST',
    path: '/v1/fleets/:fleet/provisioning-keys',
    summary: 'Create a provisioning key (e.g. one per installer batch); its secret is shown in this answer only',
    access: { action: 'provisioning-key.manage' },
    body: CreateProvisioningKeyRequestSchema,
    bodyName: 'the new provisioning key',
    example: { label: 'installer batch 7', expiresInDays: 30 },
    responses: { 201: ok('The key with its secret', NewProvisioningKeySchema) },
  },
  revokeProvisioningKey: {
    method: 'DELETE',
    path: '/v1/fleets/:fleet/provisioning-keys/:id',
    summary: 'Revoke a provisioning key: it admits no more devices; devices it admitted stay',
    access: { action: 'provisioning-key.manage' },
    responses: { 200: ok('The revoked key', ProvisioningKeySchema) },
  },
} as const satisfies Record<string, RouteSpec>;

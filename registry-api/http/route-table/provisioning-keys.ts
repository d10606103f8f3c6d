// Route table entries (../route-spec.ts) of a fleet's provisioning keys. ../route-table.ts spreads them into ROUTES.
import { Type } from '@sinclair/typebox';
import {
  CreateProvisioningKeyRequestSchema,
  NewProvisioningKeySchema,
  ProvisioningKeySchema,
} from '../../../protocol/provisioning-keys.js';
import type { RouteSpec } from '../route-spec.js';

export const PROVISIONING_KEY_ROUTES = {
  listProvisioningKeys: {
    method: 'GET',
    path: '/v1/fleets/:fleet/provisioning-keys',
    summary: "A fleet's provisioning keys (never the secrets)",
    access: { action: 'provisioning-key.read' },
    responses: {
      200: {
        description: 'The keys, oldest first, revoked and expired ones too',
        schema: Type.Array(ProvisioningKeySchema),
      },
    },
  },
  createProvisioningKey: {
    method: 'POST',
    path: '/v1/fleets/:fleet/provisioning-keys',
    summary: 'Create a provisioning key (e.g. one per installer batch); its secret is shown in this answer only',
    access: { action: 'provisioning-key.manage' },
    body: CreateProvisioningKeyRequestSchema,
    bodyName: 'the new provisioning key',
    example: { label: 'installer batch 7', expiresInDays: 30 },
    responses: { 201: { description: 'The key with its secret', schema: NewProvisioningKeySchema } },
  },
  revokeProvisioningKey: {
    method: 'DELETE',
    path: '/v1/fleets/:fleet/provisioning-keys/:id',
    summary: 'Revoke a provisioning key: it admits no more devices; devices it admitted stay',
    access: { action: 'provisioning-key.manage' },
    responses: { 200: { description: 'The revoked key', schema: ProvisioningKeySchema } },
  },
} as const satisfies Record<string, RouteSpec>;

// The routes of a fleet's saved groups (named device selectors) and of operations on every device of a fleet a
// selector picks: pin, let follow the fleet, tag, revoke. Each bulk operation is one request, audited once with its
// selector and how many devices it changed.
import { BulkResultSchema, BulkPinRequestSchema, BulkRequestSchema, BulkTagRequestSchema } from '../device-groups.js';
import { CreateGroupRequestSchema, DeviceGroupSchema } from '../device-groups.js';
import { listOf, ok, type RouteSpec } from './route.js';

export const DEVICE_GROUP_ROUTES = {
  listGroups: {
    method: 'GET',
    path: '/v1/fleets/:fleet/groups',
    summary: "A fleet's saved groups",
    access: { action: 'read' },
    responses: { 200: listOf('The groups', DeviceGroupSchema) },
  },
  createGroup: {
    method: 'POST',
    path: '/v1/fleets/:fleet/groups',
    summary: 'Save a device selector under a name: `group:NAME` then stands for it',
    access: { action: 'device.manage' },
    body: CreateGroupRequestSchema,
    bodyName: 'the new group',
    example: { name: 'north-canaries', selector: 'tag:region=north,tag:canary' },
    responses: { 201: ok('The group, with how many devices it selects now', DeviceGroupSchema) },
  },
  getGroup: {
    method: 'GET',
    path: '/v1/fleets/:fleet/groups/:group',
    summary: 'One saved group, with how many devices it selects now',
    access: { action: 'read' },
    responses: { 200: ok('The group', DeviceGroupSchema) },
  },
  deleteGroup: {
    method: 'DELETE',
    path: '/v1/fleets/:fleet/groups/:group',
    summary: 'Forget a saved group',
    access: { action: 'device.manage' },
    responses: { 200: ok('The group as it was', DeviceGroupSchema) },
  },
  bulkPin: {
    method: 'POST',
    path: '/v1/fleets/:fleet/devices/pin',
    summary: "Pin every device of the fleet the selector picks to one of the fleet's releases",
    access: { action: 'device.manage' },
    body: BulkPinRequestSchema,
    bodyName: 'the bulk pin',
    example: { selector: 'tag:region=north', release: '1.0.0' },
    responses: { 200: ok('How many devices it changed', BulkResultSchema) },
  },
  bulkTrackFleet: {
    method: 'POST',
    path: '/v1/fleets/:fleet/devices/track-fleet',
    summary: 'Let every device the selector picks follow its fleet again',
    access: { action: 'device.manage' },
    body: BulkRequestSchema,
    bodyName: 'the bulk track-fleet',
    example: { selector: 'tag:region=north' },
    responses: { 200: ok('How many devices it changed', BulkResultSchema) },
  },
  bulkTag: {
    method: 'POST',
    path: '/v1/fleets/:fleet/devices/tag',
    summary: 'Add and remove tags on every device the selector picks',
    access: { action: 'device.manage' },
    body: BulkTagRequestSchema,
    bodyName: 'the bulk tag',
    example: { selector: 'site:roof-*', add: ['region=north'], remove: ['canary'] },
    responses: { 200: ok('How many devices it changed', BulkResultSchema) },
  },
  bulkRevoke: {
    method: 'POST',
    path: '/v1/fleets/:fleet/devices/revoke',
    summary: 'Revoke every device the selector picks: their credentials stop working at once',
    access: { action: 'device.manage' },
    body: BulkRequestSchema,
    bodyName: 'the bulk revoke',
    example: { selector: 'tag:stolen' },
    responses: { 200: ok('How many devices it changed', BulkResultSchema) },
  },
} as const satisfies Record<string, RouteSpec>;

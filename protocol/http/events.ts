// The routes of a fleet you can read: its events as they happen (server-sent events), the webhooks that carry them
// elsewhere, the fleet's status at a glance, and a device's metrics over time.
import { Type } from '@sinclair/typebox';
import { DeviceMetricsHistorySchema, DeviceMetricsQuerySchema } from '../device-metrics.js';
import { FleetStatusSchema } from '../fleet-status.js';
import { CreateWebhookRequestSchema, NewWebhookSchema, WebhookDeliverySchema, WebhookSchema } from '../webhooks.js';
import { listOf, ok, type RouteSpec } from './route.js';

/** The event name fleet events carry on the stream; `reset` says events were missed and the reader re-reads. */
export const FLEET_EVENT = 'fleet-event';
export const RESET_EVENT = 'reset';

export const EVENT_ROUTES = {
  fleetEvents: {
    method: 'GET',
    path: '/v1/events',
    summary:
      'Fleet events (protocol/fleet-events.ts) as server-sent events until the caller hangs up: `fleet-event` ' +
      '(the event as JSON, its id as the SSE id), heartbeat comments, and `reset` when events were missed (a ' +
      '`Last-Event-ID` older than the API keeps, or a reader that fell behind and is cut off): re-read the API then. ' +
      '`?fleet=` one fleet; absent: every fleet the caller may read.',
    access: { action: 'read' },
    query: Type.Object({ fleet: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) }),
    responses: {
      200: { description: 'An endless text/event-stream', schema: Type.String(), mediaType: 'text/event-stream' },
    },
  },
  fleetStatus: {
    method: 'GET',
    path: '/v1/fleets/:fleet/status',
    summary:
      "A fleet at a glance: its admitted devices counted by running release, update status, online and health, and each device's activity (`?limit=` devices listed, default 50, at most 1000)",
    access: { action: 'read' },
    query: Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })) }),
    responses: { 200: ok('The fleet status', FleetStatusSchema) },
  },
  deviceMetrics: {
    method: 'GET',
    path: '/v1/devices/:uuid/metrics',
    summary:
      "A device's metrics over time, oldest first: raw samples when the whole range is within the last hour, else 15-minute buckets (average, minimum, maximum). `from`, `to`: ISO-8601 (default the last hour); at most 30 days back",
    access: { action: 'read' },
    query: DeviceMetricsQuerySchema,
    responses: { 200: ok('The points', DeviceMetricsHistorySchema) },
  },
  createWebhook: {
    method: 'POST',
    path: '/v1/webhooks',
    summary:
      "Register a URL that fleet events are POSTed to, signed (protocol/webhooks.ts: Skiff-Signature); the answer shows the webhook's secret, once",
    access: { action: 'webhook.manage' },
    body: CreateWebhookRequestSchema,
    bodyName: 'the webhook',
    example: { url: 'https://hooks.example.com/skiff', fleet: 'meters', kinds: ['device.offline'] },
    responses: { 201: ok('The webhook with its secret', NewWebhookSchema) },
  },
  listWebhooks: {
    method: 'GET',
    path: '/v1/webhooks',
    summary: 'The webhooks, oldest first (never their secrets)',
    access: { action: 'webhook.manage' },
    responses: { 200: listOf('The webhooks', WebhookSchema) },
  },
  deleteWebhook: {
    method: 'DELETE',
    path: '/v1/webhooks/:id',
    summary: 'Remove a webhook and its deliveries still pending',
    access: { action: 'webhook.manage' },
    responses: { 200: ok('The webhook removed', WebhookSchema) },
  },
  webhookDeliveries: {
    method: 'GET',
    path: '/v1/webhooks/:id/deliveries',
    summary: "A webhook's deliveries, newest first (at most 100)",
    access: { action: 'webhook.manage' },
    responses: { 200: listOf('The deliveries', WebhookDeliverySchema) },
  },
} as const satisfies Record<string, RouteSpec>;

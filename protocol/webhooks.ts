// Webhooks: fleet events (fleet-events.ts) POSTed to a URL an admin registered, signed with the webhook's own
// secret. The signature follows the scheme Stripe and GitHub use, so receivers can reuse what they know:
//
//   Skiff-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//
// A receiver recomputes the HMAC over the timestamp, a dot and the raw body bytes with the secret it was shown
// once, compares in constant time, and refuses a timestamp too far from its clock (5 minutes is usual) against
// replays. Skiff-Event names the kind, Skiff-Delivery the delivery (the same across retries: deduplicate on it).
// Any 2xx answer is success; anything else, or no answer within the timeout, is retried with backoff.
import { Type, type Static } from '@sinclair/typebox';
import { FLEET_EVENT_KINDS, FleetEventSchema } from './fleet-events.js';

export const WEBHOOK_SIGNATURE_HEADER = 'Skiff-Signature';
export const WEBHOOK_EVENT_HEADER = 'Skiff-Event';
export const WEBHOOK_DELIVERY_HEADER = 'Skiff-Delivery';

const Kind = Type.Union(FLEET_EVENT_KINDS.map((kind) => Type.Literal(kind)));

export const WebhookSchema = Type.Object(
  {
    id: Type.String(),
    /** Null: every fleet's events. */
    fleet: Type.Union([Type.String(), Type.Null()]),
    url: Type.String(),
    /** Empty: every kind. */
    kinds: Type.Array(Kind),
    createdBy: Type.String(),
    createdAt: Type.String(),
  },
  { additionalProperties: false },
);
export type Webhook = Static<typeof WebhookSchema>;

/** The answer that created a webhook: the only time its secret is shown. */
export const NewWebhookSchema = Type.Composite([WebhookSchema, Type.Object({ secret: Type.String() })]);
export type NewWebhook = Static<typeof NewWebhookSchema>;

export const CreateWebhookRequestSchema = Type.Object(
  {
    /** http or https, no credentials in it; at most 2048 characters. */
    url: Type.String({ minLength: 8, maxLength: 2048 }),
    /** Absent or null: every fleet (global admins only). */
    fleet: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()])),
    /** Absent or empty: every kind. */
    kinds: Type.Optional(Type.Array(Kind, { maxItems: FLEET_EVENT_KINDS.length, uniqueItems: true })),
  },
  { additionalProperties: false },
);
export type CreateWebhookRequest = Static<typeof CreateWebhookRequestSchema>;

export const WebhookDeliverySchema = Type.Object(
  {
    id: Type.String(),
    webhook: Type.String(),
    event: Type.String(),
    kind: Type.String(),
    state: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
    attempts: Type.Integer({ minimum: 0 }),
    /** The receiver's last HTTP status; null: it never answered. */
    lastStatus: Type.Union([Type.Integer(), Type.Null()]),
    /** Why the last attempt failed; null after success. */
    lastError: Type.Union([Type.String(), Type.Null()]),
    /** When the next attempt is due (pending ones). */
    nextAttemptAt: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String(),
    deliveredAt: Type.Union([Type.String(), Type.Null()]),
  },
  { additionalProperties: false },
);
export type WebhookDelivery = Static<typeof WebhookDeliverySchema>;

/** What a delivery's body is: the event itself, as the events stream carries it. */
export const WebhookBodySchema = FleetEventSchema;

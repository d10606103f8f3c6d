// The HTTP contract between registry-api and its clients (supervisor, cli): paths, bodies, answers.
// Auth: devices send `Authorization: Bearer <deviceKey>`; people and scripts send `Authorization: Bearer <apiToken>`.
import { Type, type Static } from '@sinclair/typebox';

const Name = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9-]*$' });

export const paths = {
  info: '/v1/info',
  register: '/v1/device/register',
  target: (uuid: string) => `/v1/device/${encodeURIComponent(uuid)}/target`,
  state: (uuid: string) => `/v1/device/${encodeURIComponent(uuid)}/state`,
  fleets: '/v1/fleets',
  fleet: (fleet: string) => `/v1/fleets/${encodeURIComponent(fleet)}`,
  releases: (fleet: string) => `/v1/fleets/${encodeURIComponent(fleet)}/releases`,
  pin: (fleet: string) => `/v1/fleets/${encodeURIComponent(fleet)}/pin`,
  trackLatest: (fleet: string) => `/v1/fleets/${encodeURIComponent(fleet)}/track-latest`,
  devices: '/v1/devices',
  device: (uuid: string) => `/v1/devices/${encodeURIComponent(uuid)}`,
} as const;

export const InfoSchema = Type.Object({
  name: Type.Literal('skiff'),
  version: Type.String(),
  /** host:port of the image registry releases are pushed to; null if none is configured. */
  registry: Type.Union([Type.String(), Type.Null()]),
});
export type Info = Static<typeof InfoSchema>;

export const RegisterRequestSchema = Type.Object({
  fleet: Name,
  provisioningKey: Type.String({ minLength: 16 }),
  /** Chosen by the device so a retried registration is idempotent. */
  uuid: Type.String({ minLength: 8, maxLength: 64, pattern: '^[a-zA-Z0-9-]+$' }),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  deviceType: Type.String({ minLength: 1, maxLength: 64 }),
}, { additionalProperties: false });
export type RegisterRequest = Static<typeof RegisterRequestSchema>;

export const RegisterResponseSchema = Type.Object({
  uuid: Type.String(),
  name: Type.String(),
  fleet: Type.String(),
  deviceKey: Type.String(),
});
export type RegisterResponse = Static<typeof RegisterResponseSchema>;

export const ReleasePolicySchema = Type.Union([
  Type.Object({ mode: Type.Literal('latest') }),
  Type.Object({ mode: Type.Literal('pinned'), releaseId: Type.String() }),
]);
export type ReleasePolicy = Static<typeof ReleasePolicySchema>;

export const CreateFleetRequestSchema = Type.Object({
  name: Name,
  deviceType: Type.String({ minLength: 1, maxLength: 64 }),
  pollIntervalSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
}, { additionalProperties: false });
export type CreateFleetRequest = Static<typeof CreateFleetRequestSchema>;

export const FleetSchema = Type.Object({
  name: Type.String(),
  deviceType: Type.String(),
  provisioningKey: Type.String(),
  releasePolicy: ReleasePolicySchema,
  pollIntervalSeconds: Type.Integer(),
  createdAt: Type.String(),
});
export type Fleet = Static<typeof FleetSchema>;

export const CreateReleaseRequestSchema = Type.Object({
  /** The compose file as YAML text. Services with `build` need an entry in `images`. */
  compose: Type.String({ minLength: 1, maxLength: 1_000_000 }),
  /** Service name to image digest reference (REGISTRY/REPO@sha256:HEX). */
  images: Type.Record(Type.String(), Type.String({ pattern: '@sha256:[a-f0-9]{64}$' })),
  version: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  notes: Type.Optional(Type.String({ maxLength: 10_000 })),
}, { additionalProperties: false });
export type CreateReleaseRequest = Static<typeof CreateReleaseRequestSchema>;

export const ReleaseStatusSchema = Type.Union([Type.Literal('pending'), Type.Literal('ready'), Type.Literal('failed')]);

export const ReleaseSchema = Type.Object({
  id: Type.String(),
  fleet: Type.String(),
  version: Type.String(),
  status: ReleaseStatusSchema,
  services: Type.Array(Type.String()),
  images: Type.Record(Type.String(), Type.String()),
  notes: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
});
export type Release = Static<typeof ReleaseSchema>;

export const PinRequestSchema = Type.Object({
  /** Release id or version. */
  release: Type.String({ minLength: 1 }),
}, { additionalProperties: false });
export type PinRequest = Static<typeof PinRequestSchema>;

export const DeviceSummarySchema = Type.Object({
  uuid: Type.String(),
  name: Type.String(),
  fleet: Type.String(),
  deviceType: Type.String(),
  online: Type.Boolean(),
  lastSeen: Type.Union([Type.String(), Type.Null()]),
  /** Version of the release the device should run. */
  targetRelease: Type.Union([Type.String(), Type.Null()]),
  /** Version of the release the device reports running in full. */
  runningRelease: Type.Union([Type.String(), Type.Null()]),
  updateStatus: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
});
export type DeviceSummary = Static<typeof DeviceSummarySchema>;

/** RFC 9457 problem details: every error answer of the API has this shape. */
export const ProblemSchema = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String(),
  /** Where the input was wrong: a JSON pointer or compose path, and what is wrong there. */
  errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
});
export type Problem = Static<typeof ProblemSchema>;

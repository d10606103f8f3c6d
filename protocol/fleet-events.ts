// What happens in a fleet, as operators, the dashboard and webhooks hear of it: one event type for the fleet
// events stream (server-sent events), the webhooks and the dashboard's live pages, so all three say the same thing.
// Events are facts after the change was committed; a consumer that missed some re-reads the API (the stream carries
// no state of its own), which is why each event is small and names what changed rather than carrying it.
import { Type, type Static } from '@sinclair/typebox';

export const FLEET_EVENT_KINDS = [
  'device.online',
  'device.offline',
  'device.registered',
  'device.decommissioned',
  'device.update.started',
  'device.update.done',
  'device.update.failed',
  /** The device rolled a release back by itself: it did not become healthy in time, or crash-looped. */
  'device.rollback',
  /** The meter the device reads announces another serial than the one it was commissioned for. */
  'device.wrong-meter',
  'release.created',
  'rollout.created',
  'rollout.phase.started',
  'rollout.phase.passed',
  'rollout.halted',
  'rollout.paused',
  'rollout.resumed',
  'rollout.aborted',
  'rollout.completed',
  'fleet.emergency-stop',
] as const;
export type FleetEventKind = (typeof FLEET_EVENT_KINDS)[number];

export const FleetEventSchema = Type.Object(
  {
    /** Unique and increasing per API instance's clock: `Last-Event-ID` resumes after it where it can. */
    id: Type.String({ minLength: 1, maxLength: 64 }),
    kind: Type.Union(FLEET_EVENT_KINDS.map((kind) => Type.Literal(kind))),
    fleet: Type.String({ minLength: 1, maxLength: 64 }),
    at: Type.String(),
    /** The device it is about, if any. */
    device: Type.Optional(Type.String({ maxLength: 64 })),
    /** The release it is about, if any. */
    release: Type.Optional(Type.String({ maxLength: 128 })),
    /** The rollout it is about, if any. */
    rollout: Type.Optional(Type.String({ maxLength: 64 })),
    /** What a person reads: the decision and its numbers, e.g. "phase 1 halted: 3 of 20 devices unhealthy (15% > 10%)". */
    summary: Type.String({ maxLength: 1024 }),
    /** The figures behind it, for machines (counts, thresholds, reasons). */
    detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type FleetEvent = Static<typeof FleetEventSchema>;

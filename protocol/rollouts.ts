// Rollouts: a release sent to the devices of a fleet that a selector picks, phase by phase, each phase judged by
// whether its devices run the release and are healthy (services running, no restart loop, the application's own
// health), halting by itself above a failure threshold. What the API takes to start one and what it shows of one.
import { Type, type Static } from '@sinclair/typebox';
import { SELECTOR_LIMITS } from './device-selector.js';

/** Bounds on what a person or a script may ask for. */
export const ROLLOUT_LIMITS = {
  phases: 10,
  /** A week: a phase waiting longer than that for its devices is forgotten, not judged. */
  deadlineSeconds: 7 * 24 * 3600,
  ratePerMinute: 100_000,
  noteChars: 1024,
} as const;

/** The states of a rollout; completed and aborted are final. */
export const ROLLOUT_STATES = ['running', 'paused', 'halted', 'aborted', 'completed'] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

/** The states of one phase; passed, failed, rolled-back and skipped are final. */
export const PHASE_STATES = ['waiting', 'running', 'passed', 'failed', 'rolled-back', 'skipped'] as const;
export type PhaseState = (typeof PHASE_STATES)[number];

const Selector = Type.String({ maxLength: SELECTOR_LIMITS.chars });

/** A phase reaches a share of the rollout's devices (cumulative: 1, 10, 100), or the devices a selector picks. */
export const PhaseSpecSchema = Type.Union([
  Type.Object({ percent: Type.Number({ exclusiveMinimum: 0, maximum: 100 }) }, { additionalProperties: false }),
  Type.Object({ selector: Selector }, { additionalProperties: false }),
]);
export type PhaseSpec = Static<typeof PhaseSpecSchema>;

const Percent = Type.Number({ minimum: 0, maximum: 100 });

export const CreateRolloutRequestSchema = Type.Object(
  {
    /** The release, by id, version or a unique id prefix, of the fleet. */
    release: Type.String({ minLength: 1, maxLength: 128 }),
    /** Which devices of the fleet (protocol/device-selector.ts); absent or empty: all of them. */
    selector: Type.Optional(Selector),
    /** Devices taken first (into the first phase); default `tag:canary`. */
    canary: Type.Optional(Selector),
    phases: Type.Array(PhaseSpecSchema, { minItems: 1, maxItems: ROLLOUT_LIMITS.phases }),
    /** A phase passes when at least this share of its devices run the release healthy; default 95. */
    successPercent: Type.Optional(Percent),
    /** The rollout halts when more than this share of a phase's devices failed; default 5. */
    failurePercent: Type.Optional(Percent),
    /** How long a device has, from its assignment, to run the release healthy; default 1800 (30 minutes). */
    deadlineSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: ROLLOUT_LIMITS.deadlineSeconds })),
    /** Devices assigned per minute at most; absent: a phase's devices all at once. */
    ratePerMinute: Type.Optional(Type.Integer({ minimum: 1, maximum: ROLLOUT_LIMITS.ratePerMinute })),
    /** On halting, the failing phase's devices go back to the release they had; default false. */
    rollbackOnHalt: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreateRolloutRequest = Static<typeof CreateRolloutRequestSchema>;

/** Pause, resume, abort or stop: why, for the audit log. */
export const RolloutActionRequestSchema = Type.Object(
  { note: Type.Optional(Type.String({ maxLength: ROLLOUT_LIMITS.noteChars })) },
  { additionalProperties: false },
);
export type RolloutActionRequest = Static<typeof RolloutActionRequestSchema>;

const Count = Type.Integer({ minimum: 0 });

/** Where a phase's devices stand; `updated` and `healthy` overlap (a healthy device is updated). */
export const PhaseCountsSchema = Type.Object({
  devices: Count,
  /** Told to run the release (the rate lets them in over time). */
  assigned: Count,
  /** Run the release, healthy or not. */
  updated: Count,
  healthy: Count,
  /** Rolled the release back themselves, or not healthy by their deadline. */
  failed: Count,
  /** Assigned, neither healthy nor failed yet; plus those not assigned yet. */
  pending: Count,
  /** Sent back to the release they had. */
  rolledBack: Count,
});
export type PhaseCounts = Static<typeof PhaseCountsSchema>;

export const RolloutPhaseSchema = Type.Object({
  index: Type.Integer({ minimum: 0 }),
  spec: PhaseSpecSchema,
  state: Type.Union(PHASE_STATES.map((state) => Type.Literal(state))),
  startedAt: Type.Union([Type.String(), Type.Null()]),
  endedAt: Type.Union([Type.String(), Type.Null()]),
  counts: PhaseCountsSchema,
});
export type RolloutPhase = Static<typeof RolloutPhaseSchema>;

export const RolloutSchema = Type.Object({
  id: Type.String(),
  fleet: Type.String(),
  releaseId: Type.String(),
  releaseVersion: Type.String(),
  selector: Type.String(),
  canary: Type.String(),
  state: Type.Union(ROLLOUT_STATES.map((state) => Type.Literal(state))),
  /** The phase it is in (or ended in). */
  phase: Type.Integer({ minimum: 0 }),
  successPercent: Percent,
  failurePercent: Percent,
  deadlineSeconds: Type.Integer({ minimum: 1 }),
  ratePerMinute: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
  rollbackOnHalt: Type.Boolean(),
  /** Why it is halted, paused, aborted or completed, with the numbers. */
  reason: Type.Union([Type.String(), Type.Null()]),
  /** Devices the selector picked but that stay out: pinned ones (a device pin wins over a rollout). */
  excluded: Count,
  createdBy: Type.String(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  phases: Type.Array(RolloutPhaseSchema),
});
export type Rollout = Static<typeof RolloutSchema>;

/** What an emergency stop did. */
export const FleetStopSchema = Type.Object({
  fleet: Type.String(),
  /** The rollouts it halted. */
  halted: Type.Array(Type.String()),
});
export type FleetStop = Static<typeof FleetStopSchema>;

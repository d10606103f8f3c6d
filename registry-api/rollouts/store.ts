// Rollouts as the database keeps them (migration 21): one row per rollout (its state machine's state, phases as
// JSON, a revision every step bumps) and one row per device it covers (its phase, whether it was assigned the
// release, rolled back, or waits; the release it had before, for rollback). Every step is one transaction that
// applies only if the rollout's revision is still the one the step was decided on: two API instances judging the
// same rollout at once make one step, not two. Each step is audited with its numbers and moves the target
// generation of exactly the devices whose release it changes, so their push channels tell them at once.
import { Type } from '@sinclair/typebox';
import {
  PHASE_STATES,
  PhaseSpecSchema,
  type PhaseSpec,
  type PhaseState,
  type RolloutState,
} from '../../protocol/rollouts.js';
import { parse } from '../../protocol/validate.js';
import type { StateReport } from '../../protocol/state-report.js';
import type { Audit } from '../store/audit.js';
import { ConflictError, type Stamp } from '../store/index.js';
import { Nullable, type Database, type Queryable } from '../store/sql/database.js';
import { bumpDeviceTargets } from '../store/target-generation.js';

export interface RolloutSettings {
  successPercent: number;
  failurePercent: number;
  deadlineSeconds: number;
  ratePerMinute: number | null;
  rollbackOnHalt: boolean;
  /** Devices the selector picked that stay out (pinned). */
  excluded: number;
}

export interface PhaseRecord {
  spec: PhaseSpec;
  state: PhaseState;
  startedAt: string | null;
  endedAt: string | null;
}

export interface RolloutRecord {
  id: string;
  fleet: string;
  releaseId: string;
  selector: string;
  canary: string;
  state: RolloutState;
  phase: number;
  phases: PhaseRecord[];
  settings: RolloutSettings;
  /** Moves with every step: what a conditional step compares. */
  revision: number;
  reason: string | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

export type AssignmentState = 'pending' | 'assigned' | 'rolled-back';

export interface AssignmentRecord {
  uuid: string;
  phase: number;
  state: AssignmentState;
  /** What the device had before the rollout; null: it followed its fleet's policy. */
  previousReleaseId: string | null;
  assignedAt: string | null;
  rolledBackAt: string | null;
}

export interface NewRollout {
  id: string;
  fleet: string;
  releaseId: string;
  selector: string;
  canary: string;
  phases: PhaseRecord[];
  settings: RolloutSettings;
  devices: readonly { uuid: string; phase: number; previousReleaseId: string | null }[];
  /** The first step (its first phase started, maybe its first devices assigned), audited with the creation. */
  audit: Record<string, unknown>;
}

/** One step of a rollout, as the state machine and the driver decided it. */
export interface RolloutStep {
  state: RolloutState;
  phase: number;
  phases: PhaseRecord[];
  reason: string | null;
  /** Devices that get the release now. */
  assign: readonly string[];
  /** The phase whose assigned devices go back to their previous release; null: none. */
  rollBackPhase: number | null;
  /** The audit entry: its action (rollout.*) and numbers. */
  action: string;
  detail: Record<string, unknown>;
}

/** What a device's rollouts say it should run: the newest rollout covering it decides. */
export interface RolloutTarget {
  rolloutId: string;
  /** Null: nothing to say (it had no release of its own before); its fleet's policy applies. */
  releaseId: string | null;
}

export interface RolloutStore {
  /** Throws ConflictError while another rollout of the fleet is running, paused or halted. */
  create(rollout: NewRollout, stamp: Stamp): Promise<RolloutRecord>;
  get(id: string): Promise<RolloutRecord | null>;
  /** Newest first. */
  list(fleet: string): Promise<RolloutRecord[]>;
  /** Every rollout in one of `states`, oldest first. */
  inState(states: readonly RolloutState[], fleet?: string): Promise<RolloutRecord[]>;
  assignments(id: string): Promise<AssignmentRecord[]>;
  /** The latest report of each assigned device of the phase (null: none yet), by uuid. */
  reportsOf(id: string, phase: number): Promise<Map<string, StateReport | null>>;
  /** Applies `step` if the rollout is still at `revision`; null when it moved on (the step is dropped). */
  commit(id: string, revision: number, step: RolloutStep, stamp: Stamp): Promise<RolloutRecord | null>;
  targetOf(uuid: string): Promise<RolloutTarget | null>;
  /** targetOf for every device of the fleet a rollout covers, by uuid: for listings, in one read. */
  targetsIn(fleet: string): Promise<Map<string, string | null>>;
}

const PhaseRecordsSchema = Type.Array(
  Type.Object({
    spec: PhaseSpecSchema,
    state: Type.Union(PHASE_STATES.map((state) => Type.Literal(state))),
    startedAt: Nullable(Type.String()),
    endedAt: Nullable(Type.String()),
  }),
);

const SettingsSchema = Type.Object({
  successPercent: Type.Number(),
  failurePercent: Type.Number(),
  deadlineSeconds: Type.Integer(),
  ratePerMinute: Nullable(Type.Integer()),
  rollbackOnHalt: Type.Boolean(),
  excluded: Type.Integer(),
});

const RolloutRow = Type.Object({
  id: Type.String(),
  fleet: Type.String(),
  release_id: Type.String(),
  selector: Type.String(),
  canary: Type.String(),
  state: Type.Union([
    Type.Literal('running'),
    Type.Literal('paused'),
    Type.Literal('halted'),
    Type.Literal('aborted'),
    Type.Literal('completed'),
  ]),
  phase: Type.Integer(),
  phases: Type.String(),
  settings: Type.String(),
  revision: Type.Integer(),
  reason: Nullable(Type.String()),
  created_by: Type.String(),
  created_at: Type.String(),
  updated_at: Type.String(),
});
type RolloutRow = typeof RolloutRow.static;

const AssignmentRow = Type.Object({
  uuid: Type.String(),
  phase: Type.Integer(),
  state: Type.Union([Type.Literal('pending'), Type.Literal('assigned'), Type.Literal('rolled-back')]),
  previous_release_id: Nullable(Type.String()),
  assigned_at: Nullable(Type.String()),
  rolled_back_at: Nullable(Type.String()),
});

const TargetRow = Type.Object({
  rollout_id: Type.String(),
  uuid: Type.String(),
  state: AssignmentRow.properties.state,
  previous_release_id: Nullable(Type.String()),
  release_id: Type.String(),
});

/** What a device's row says it runs: the rollout's release once assigned, else what it had before. */
function releaseOf(row: typeof TargetRow.static): string | null {
  return row.state === 'assigned' ? row.release_id : row.previous_release_id;
}

/** Rows per multi-row statement: well below both databases' parameter limits. */
const CHUNK = 400;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

function recordOf(row: RolloutRow): RolloutRecord {
  return {
    id: row.id,
    fleet: row.fleet,
    releaseId: row.release_id,
    selector: row.selector,
    canary: row.canary,
    state: row.state,
    phase: row.phase,
    phases: parse(PhaseRecordsSchema, JSON.parse(row.phases), `the phases of rollout ${row.id}`),
    settings: parse(SettingsSchema, JSON.parse(row.settings), `the settings of rollout ${row.id}`),
    revision: row.revision,
    reason: row.reason,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const UNFINISHED: readonly RolloutState[] = ['running', 'paused', 'halted'];

async function setState(tx: Queryable, id: string, uuids: readonly string[], sql: string, at: string): Promise<void> {
  for (const chunk of chunks(uuids)) {
    await tx.run(`${sql} WHERE rollout_id = ? AND uuid IN (${chunk.map(() => '?').join(', ')})`, [at, id, ...chunk]);
  }
}

export function rolloutsOn(db: Database, audit: Audit): RolloutStore {
  const get = async (q: Queryable, id: string): Promise<RolloutRecord | null> => {
    const row = await q.get(RolloutRow, 'SELECT * FROM rollouts WHERE id = ?', [id]);
    return row === null ? null : recordOf(row);
  };
  return {
    async create(rollout, stamp) {
      return db.transaction(async (tx) => {
        const busy = await tx.get(
          Type.Object({ id: Type.String(), state: Type.String() }),
          `SELECT id, state FROM rollouts WHERE fleet = ? AND state IN (${UNFINISHED.map(() => '?').join(', ')})`,
          [rollout.fleet, ...UNFINISHED],
        );
        if (busy !== null)
          throw new ConflictError(
            `fleet '${rollout.fleet}' has rollout ${busy.id} ${busy.state}; abort it (or let it complete) before starting another`,
          );
        await tx.run(
          `INSERT INTO rollouts (id, fleet, release_id, selector, canary, state, phase, phases, settings, revision,
            reason, created_by, created_at, updated_at)
          VALUES (?, ?, ?, ?, ?, 'running', 0, ?, ?, 1, NULL, ?, ?, ?)`,
          [
            rollout.id,
            rollout.fleet,
            rollout.releaseId,
            rollout.selector,
            rollout.canary,
            JSON.stringify(rollout.phases),
            JSON.stringify(rollout.settings),
            stamp.actor,
            stamp.at,
            stamp.at,
          ],
        );
        for (const chunk of chunks(rollout.devices)) {
          await tx.run(
            `INSERT INTO rollout_devices (rollout_id, uuid, phase, state, previous_release_id)
            VALUES ${chunk.map(() => "(?, ?, ?, 'pending', ?)").join(', ')}`,
            chunk.flatMap((device) => [rollout.id, device.uuid, device.phase, device.previousReleaseId]),
          );
        }
        await audit.record(tx, stamp, {
          action: 'rollout.create',
          target: `rollout:${rollout.id}`,
          fleet: rollout.fleet,
          detail: rollout.audit,
        });
        // From now on the devices it covers follow it: those not reached hold the release they had.
        await bumpDeviceTargets(
          tx,
          rollout.devices.map((device) => device.uuid),
        );
        const created = await get(tx, rollout.id);
        if (created === null) throw new Error(`rollout ${rollout.id} vanished in the transaction that created it`);
        return created;
      });
    },

    get: (id) => get(db, id),

    async list(fleet) {
      const rows = await db.all(
        RolloutRow,
        'SELECT * FROM rollouts WHERE fleet = ? ORDER BY created_at DESC, id DESC',
        [fleet],
      );
      return rows.map(recordOf);
    },

    async inState(states, fleet) {
      if (states.length === 0) return [];
      const marks = states.map(() => '?').join(', ');
      const rows =
        fleet === undefined
          ? await db.all(RolloutRow, `SELECT * FROM rollouts WHERE state IN (${marks}) ORDER BY created_at, id`, [
              ...states,
            ])
          : await db.all(
              RolloutRow,
              `SELECT * FROM rollouts WHERE fleet = ? AND state IN (${marks}) ORDER BY created_at, id`,
              [fleet, ...states],
            );
      return rows.map(recordOf);
    },

    async assignments(id) {
      const rows = await db.all(
        AssignmentRow,
        `SELECT uuid, phase, state, previous_release_id, assigned_at, rolled_back_at
        FROM rollout_devices WHERE rollout_id = ? ORDER BY phase, uuid`,
        [id],
      );
      return rows.map((row) => ({
        uuid: row.uuid,
        phase: row.phase,
        state: row.state,
        previousReleaseId: row.previous_release_id,
        assignedAt: row.assigned_at,
        rolledBackAt: row.rolled_back_at,
      }));
    },

    async reportsOf(id, phase) {
      const rows = await db.all(
        Type.Object({ uuid: Type.String(), report: Nullable(Type.String()) }),
        `SELECT d.uuid, s.report FROM rollout_devices d LEFT JOIN device_state s ON s.uuid = d.uuid
        WHERE d.rollout_id = ? AND d.phase = ? AND d.state = 'assigned'`,
        [id, phase],
      );
      // Reports were checked against StateReportSchema when the device sent them.
      return new Map(
        rows.map((row) => [row.uuid, row.report === null ? null : (JSON.parse(row.report) as StateReport)]),
      );
    },

    async commit(id, revision, step, stamp) {
      return db.transaction(async (tx) => {
        const moved = await tx.run(
          `UPDATE rollouts SET state = ?, phase = ?, phases = ?, reason = ?, revision = revision + 1, updated_at = ?
          WHERE id = ? AND revision = ?`,
          [step.state, step.phase, JSON.stringify(step.phases), step.reason, stamp.at, id, revision],
        );
        if (moved.changes === 0) return null;
        const rollout = await get(tx, id);
        if (rollout === null) return null;
        await setState(tx, id, step.assign, "UPDATE rollout_devices SET state = 'assigned', assigned_at = ?", stamp.at);
        let rolledBack: string[] = [];
        if (step.rollBackPhase !== null) {
          rolledBack = (
            await tx.all(
              Type.Object({ uuid: Type.String() }),
              "SELECT uuid FROM rollout_devices WHERE rollout_id = ? AND phase = ? AND state = 'assigned'",
              [id, step.rollBackPhase],
            )
          ).map((row) => row.uuid);
          await setState(
            tx,
            id,
            rolledBack,
            "UPDATE rollout_devices SET state = 'rolled-back', rolled_back_at = ?",
            stamp.at,
          );
        }
        await audit.record(tx, stamp, {
          action: step.action,
          target: `rollout:${id}`,
          fleet: rollout.fleet,
          detail: {
            ...step.detail,
            ...(step.assign.length > 0 ? { assigned: step.assign.length } : {}),
            ...(step.rollBackPhase !== null ? { rolledBack: rolledBack.length } : {}),
          },
        });
        await bumpDeviceTargets(tx, [...step.assign, ...rolledBack]);
        return rollout;
      });
    },

    async targetOf(uuid) {
      const row = await db.get(
        TargetRow,
        `SELECT d.rollout_id, d.uuid, d.state, d.previous_release_id, r.release_id
        FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
        WHERE d.uuid = ? ORDER BY r.created_at DESC, r.id DESC LIMIT 1`,
        [uuid],
      );
      if (row === null) return null;
      return { rolloutId: row.rollout_id, releaseId: releaseOf(row) };
    },

    async targetsIn(fleet) {
      const rows = await db.all(
        TargetRow,
        `SELECT d.rollout_id, d.uuid, d.state, d.previous_release_id, r.release_id
        FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id
        WHERE r.fleet = ? ORDER BY r.created_at, r.id`,
        [fleet],
      );
      // Oldest first: a newer rollout's row replaces an older one's, as targetOf picks the newest.
      return new Map(rows.map((row) => [row.uuid, releaseOf(row)]));
    },
  };
}

// Whether each device was last announced online or offline (migration 23). The row is what the last
// device.online/device.offline event said: a change is written with a conditional UPDATE, and only the writer whose
// statement changed the row announces it, so several API instances (or one restarted) announce each change once.
import { Type } from '@sinclair/typebox';
import { Nullable, type Database } from './sql/database.js';

const CandidateRow = Type.Object({
  uuid: Type.String(),
  fleet: Type.String(),
  name: Type.String(),
  last_seen: Nullable(Type.String()),
  poll_interval_seconds: Type.Integer(),
  online: Nullable(Type.Integer()),
});

export interface PresenceCandidate {
  uuid: string;
  fleet: string;
  name: string;
  lastSeen: string | null;
  pollIntervalSeconds: number;
  /** What was last announced; null: nothing yet. */
  announced: boolean | null;
}

export interface PresenceStore {
  /** Records `online` for the device; true when that changed what was recorded (the caller announces it). */
  set(uuid: string, online: boolean, at: string): Promise<boolean>;
  /** Every admitted device with its last contact, its fleet's poll interval and what was last announced. */
  candidates(): Promise<PresenceCandidate[]>;
}

export function presenceOn(db: Database): PresenceStore {
  return {
    async set(uuid, online, at) {
      const result = await db.run(
        `INSERT INTO device_presence (uuid, online, changed_at)
        SELECT uuid, CAST(? AS INTEGER), CAST(? AS TEXT) FROM devices WHERE uuid = ?
        ON CONFLICT (uuid) DO UPDATE SET online = excluded.online, changed_at = excluded.changed_at
        WHERE device_presence.online <> excluded.online`,
        [online ? 1 : 0, at, uuid],
      );
      return result.changes > 0;
    },
    async candidates() {
      const rows = await db.all(
        CandidateRow,
        `SELECT d.uuid, d.fleet, d.name, d.last_seen, f.poll_interval_seconds, p.online
        FROM devices d JOIN fleets f ON f.name = d.fleet LEFT JOIN device_presence p ON p.uuid = d.uuid
        WHERE d.auth_status = 'accepted'`,
      );
      return rows.map((r) => ({
        uuid: r.uuid,
        fleet: r.fleet,
        name: r.name,
        lastSeen: r.last_seen,
        pollIntervalSeconds: r.poll_interval_seconds,
        announced: r.online === null ? null : r.online === 1,
      }));
    },
  };
}

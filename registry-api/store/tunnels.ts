// Devices' reverse SSH tunnels (a port on the jump host and the key that may listen on it) and operators' SSH
// sessions through them. Ports are handed out lowest free first inside the configured range, in a write
// transaction (they run one at a time), so two devices never get the same one; the UNIQUE column says so too.
import { Type } from '@sinclair/typebox';
import type { Audit } from './audit.js';
import { ConflictError, type Stamp } from './index.js';
import { Nullable, type Database } from './sql/database.js';

export interface PortRange {
  from: number;
  to: number;
}

export interface DeviceTunnel {
  uuid: string;
  fleet: string;
  port: number;
  publicKey: string;
  /** Only an accepted device's tunnel is let in. */
  accepted: boolean;
}

export interface NewSshSession {
  id: string;
  uuid: string;
  purpose: string;
  principal: string;
  validBefore: string;
  /** What else the audit entry says (the forward asked for). */
  detail: Record<string, unknown>;
}

export interface SshSessionRecord {
  id: string;
  uuid: string;
  fleet: string;
  actor: string;
  purpose: string;
  principal: string;
  issuedAt: string;
  validBefore: string;
  endedAt: string | null;
  port: number | null;
  accepted: boolean;
}

export interface TunnelStore {
  /**
   * Stores the device's tunnel key and gives it a port: the one it has, else the lowest free one in `range`.
   * Throws ConflictError when the key is another device's or the range is full.
   */
  register(uuid: string, fleet: string, publicKey: string, range: PortRange, stamp: Stamp): Promise<DeviceTunnel>;
  of(uuid: string): Promise<DeviceTunnel | null>;
  /** The tunnel whose key this is (type and base64 blob as sshd gives them). */
  byKey(publicKey: string): Promise<DeviceTunnel | null>;
  /** Deletes the tunnel of a device that is no longer accepted; the port it frees, or null. */
  releaseIfNotAccepted(uuid: string, stamp: Stamp): Promise<number | null>;
  openSession(session: NewSshSession, stamp: Stamp, fleet: string): Promise<void>;
  session(id: string): Promise<SshSessionRecord | null>;
  /** Records the end once: its duration in seconds; null when the session is unknown for this device or ended. */
  endSession(id: string, uuid: string, exitCode: number | null, stamp: Stamp, fleet: string): Promise<number | null>;
}

const TunnelRow = Type.Object({
  uuid: Type.String(),
  fleet: Type.String(),
  port: Type.Integer(),
  public_key: Type.String(),
  auth_status: Type.String(),
});

const SessionRow = Type.Object({
  id: Type.String(),
  uuid: Type.String(),
  fleet: Type.String(),
  actor: Type.String(),
  purpose: Type.String(),
  principal: Type.String(),
  issued_at: Type.String(),
  valid_before: Type.String(),
  ended_at: Nullable(Type.String()),
  port: Nullable(Type.Integer()),
  auth_status: Type.String(),
});

const SELECT_TUNNEL = `SELECT t.uuid, d.fleet, t.port, t.public_key, d.auth_status
  FROM device_tunnels t JOIN devices d ON d.uuid = t.uuid`;

function tunnelOf(row: typeof TunnelRow.static): DeviceTunnel {
  return {
    uuid: row.uuid,
    fleet: row.fleet,
    port: row.port,
    publicKey: row.public_key,
    accepted: row.auth_status === 'accepted',
  };
}

export function tunnelsOn(db: Database, audit: Audit): TunnelStore {
  return {
    async register(uuid, fleet, publicKey, range, stamp) {
      return db.transaction(async (tx) => {
        const owner = await tx.get(TunnelRow, `${SELECT_TUNNEL} WHERE t.public_key = ?`, [publicKey]);
        if (owner !== null && owner.uuid !== uuid)
          throw new ConflictError(`this tunnel key is registered for another device; each device needs its own key`);
        const mine = await tx.get(TunnelRow, `${SELECT_TUNNEL} WHERE t.uuid = ?`, [uuid]);
        let port = mine?.port;
        if (port === undefined || port < range.from || port > range.to) {
          const taken = await tx.all(
            Type.Object({ port: Type.Integer() }),
            'SELECT port FROM device_tunnels WHERE port >= ? AND port <= ? ORDER BY port',
            [range.from, range.to],
          );
          let free = range.from;
          for (const row of taken) {
            if (row.port !== free) break;
            free++;
          }
          if (free > range.to)
            throw new ConflictError(
              `every tunnel port from ${range.from} to ${range.to} is taken (${taken.length} devices); widen SKIFF_TUNNEL_PORTS`,
            );
          port = free;
        }
        if (mine === null) {
          await tx.run('INSERT INTO device_tunnels (uuid, port, public_key, registered_at) VALUES (?, ?, ?, ?)', [
            uuid,
            port,
            publicKey,
            stamp.at,
          ]);
        } else if (mine.public_key !== publicKey || mine.port !== port) {
          await tx.run('UPDATE device_tunnels SET port = ?, public_key = ?, registered_at = ? WHERE uuid = ?', [
            port,
            publicKey,
            stamp.at,
            uuid,
          ]);
        } else {
          // Registered again as it is (the device restarted): nothing changed, nothing to audit.
          return tunnelOf(mine);
        }
        await audit.record(tx, stamp, {
          action: 'device.tunnel-key',
          target: `device:${uuid}`,
          fleet,
          detail: { port, key: publicKey.slice(0, 80) },
        });
        return { uuid, fleet, port, publicKey, accepted: true };
      });
    },
    async of(uuid) {
      const row = await db.get(TunnelRow, `${SELECT_TUNNEL} WHERE t.uuid = ?`, [uuid]);
      return row === null ? null : tunnelOf(row);
    },
    async byKey(publicKey) {
      const row = await db.get(TunnelRow, `${SELECT_TUNNEL} WHERE t.public_key = ?`, [publicKey]);
      return row === null ? null : tunnelOf(row);
    },
    async releaseIfNotAccepted(uuid, stamp) {
      return db.transaction(async (tx) => {
        const row = await tx.get(TunnelRow, `${SELECT_TUNNEL} WHERE t.uuid = ?`, [uuid]);
        if (row === null || row.auth_status === 'accepted') return null;
        await tx.run('DELETE FROM device_tunnels WHERE uuid = ?', [uuid]);
        await audit.record(tx, stamp, {
          action: 'device.tunnel-freed',
          target: `device:${uuid}`,
          fleet: row.fleet,
          detail: { port: row.port, authStatus: row.auth_status },
        });
        return row.port;
      });
    },
    async openSession(session, stamp, fleet) {
      await db.transaction(async (tx) => {
        await tx.run(
          `INSERT INTO ssh_sessions (id, uuid, actor, purpose, principal, issued_at, valid_before)
          VALUES (?, ?, ?, ?, ?, ?, ?)`,
          [session.id, session.uuid, stamp.actor, session.purpose, session.principal, stamp.at, session.validBefore],
        );
        await audit.record(tx, stamp, {
          action: 'device.ssh.start',
          target: `device:${session.uuid}`,
          fleet,
          detail: {
            session: session.id,
            purpose: session.purpose,
            principal: session.principal,
            validBefore: session.validBefore,
            ...session.detail,
          },
        });
      });
    },
    async session(id) {
      const row = await db.get(
        SessionRow,
        `SELECT s.id, s.uuid, d.fleet, s.actor, s.purpose, s.principal, s.issued_at, s.valid_before, s.ended_at,
          t.port, d.auth_status
        FROM ssh_sessions s JOIN devices d ON d.uuid = s.uuid LEFT JOIN device_tunnels t ON t.uuid = s.uuid
        WHERE s.id = ?`,
        [id],
      );
      if (row === null) return null;
      return {
        id: row.id,
        uuid: row.uuid,
        fleet: row.fleet,
        actor: row.actor,
        purpose: row.purpose,
        principal: row.principal,
        issuedAt: row.issued_at,
        validBefore: row.valid_before,
        endedAt: row.ended_at,
        port: row.port,
        accepted: row.auth_status === 'accepted',
      };
    },
    async endSession(id, uuid, exitCode, stamp, fleet) {
      return db.transaction(async (tx) => {
        const row = await tx.get(
          Type.Object({ issued_at: Type.String() }),
          'SELECT issued_at FROM ssh_sessions WHERE id = ? AND uuid = ? AND ended_at IS NULL',
          [id, uuid],
        );
        if (row === null) return null;
        await tx.run('UPDATE ssh_sessions SET ended_at = ?, exit_code = ? WHERE id = ?', [stamp.at, exitCode, id]);
        const seconds = Math.max(0, Math.round((Date.parse(stamp.at) - Date.parse(row.issued_at)) / 1000));
        await audit.record(tx, stamp, {
          action: 'device.ssh.end',
          target: `device:${uuid}`,
          fleet,
          detail: { session: id, exitCode, durationSeconds: seconds },
        });
        return seconds;
      });
    },
  };
}

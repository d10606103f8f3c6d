// How people log in to the dashboard: their password (an scrypt string, registry-api/web/passwords.ts), the one-time
// invite code an admin gave them to set it, and their browser sessions. Codes and session ids are kept as their
// sha256 only. Setting a password ends the user's sessions: whoever held the old one is out.
import { Type } from '@sinclair/typebox';
import type { Audit } from './audit.js';
import type { LoginStore, NewWebSession, WebSessionRecord } from './index.js';
import type { Database, Queryable } from './sql/database.js';

const PasswordRow = Type.Object({ hash: Type.String() });
const InviteRow = Type.Object({ code_hash: Type.String(), expires_at: Type.String() });
const SessionRow = Type.Object({
  user_name: Type.String(),
  csrf_token: Type.String(),
  created_at: Type.String(),
  expires_at: Type.String(),
});
const Count = Type.Object({ n: Type.Integer() });

export function loginsOn(db: Database, audit: Audit): LoginStore {
  const userExists = async (q: Queryable, name: string) =>
    (await q.get(Count, 'SELECT COUNT(*) AS n FROM users WHERE name = ?', [name]))?.n === 1;

  const writePassword = async (tx: Queryable, user: string, hash: string, actor: string, at: string) => {
    await tx.run('DELETE FROM user_passwords WHERE user_name = ?', [user]);
    await tx.run('INSERT INTO user_passwords (user_name, hash, set_by, set_at) VALUES (?, ?, ?, ?)', [
      user,
      hash,
      actor,
      at,
    ]);
    await tx.run('DELETE FROM user_invites WHERE user_name = ?', [user]);
    await tx.run('DELETE FROM web_sessions WHERE user_name = ?', [user]);
  };

  return {
    async passwordOf(user) {
      return (await db.get(PasswordRow, 'SELECT hash FROM user_passwords WHERE user_name = ?', [user]))?.hash ?? null;
    },
    async setPassword(user, hash, stamp) {
      return db.transaction(async (tx) => {
        if (!(await userExists(tx, user))) return false;
        await writePassword(tx, user, hash, stamp.actor, stamp.at);
        await audit.record(tx, stamp, { action: 'user.password.set', target: `user:${user}`, fleet: null, detail: {} });
        return true;
      });
    },
    async createInvite(user, codeHash, expiresAt, stamp) {
      return db.transaction(async (tx) => {
        if (!(await userExists(tx, user))) return false;
        await tx.run('DELETE FROM user_invites WHERE user_name = ?', [user]);
        await tx.run(
          'INSERT INTO user_invites (user_name, code_hash, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
          [user, codeHash, stamp.actor, stamp.at, expiresAt],
        );
        await audit.record(tx, stamp, {
          action: 'user.invite',
          target: `user:${user}`,
          fleet: null,
          detail: { expiresAt },
        });
        return true;
      });
    },
    async inviteIsLive(user, codeHash, at) {
      const invite = await db.get(InviteRow, 'SELECT code_hash, expires_at FROM user_invites WHERE user_name = ?', [
        user,
      ]);
      return invite !== null && invite.code_hash === codeHash && invite.expires_at > at;
    },
    async redeemInvite(user, codeHash, passwordHash, at) {
      return db.transaction(async (tx) => {
        const invite = await tx.get(InviteRow, 'SELECT code_hash, expires_at FROM user_invites WHERE user_name = ?', [
          user,
        ]);
        // The code is 32 random bytes: comparing its sha256 in SQL tells an attacker nothing worth timing.
        if (!invite || invite.code_hash !== codeHash || invite.expires_at <= at) return false;
        await writePassword(tx, user, passwordHash, user, at);
        await audit.record(
          tx,
          { actor: user, at },
          { action: 'user.invite.redeem', target: `user:${user}`, fleet: null, detail: {} },
        );
        return true;
      });
    },
    async createSession(session: NewWebSession, replacing) {
      await db.transaction(async (tx) => {
        if (replacing !== null) await tx.run('DELETE FROM web_sessions WHERE id_hash = ?', [replacing]);
        await tx.run(
          'INSERT INTO web_sessions (id_hash, user_name, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
          [session.idHash, session.user, session.csrfToken, session.createdAt, session.expiresAt],
        );
      });
    },
    async session(idHash, at): Promise<WebSessionRecord | null> {
      const row = await db.get(
        SessionRow,
        'SELECT user_name, csrf_token, created_at, expires_at FROM web_sessions WHERE id_hash = ?',
        [idHash],
      );
      if (!row || row.expires_at <= at) return null;
      return { user: row.user_name, csrfToken: row.csrf_token, createdAt: row.created_at, expiresAt: row.expires_at };
    },
    async endSession(idHash) {
      await db.run('DELETE FROM web_sessions WHERE id_hash = ?', [idHash]);
    },
    async prune(at) {
      const sessions = await db.run('DELETE FROM web_sessions WHERE expires_at <= ?', [at]);
      const invites = await db.run('DELETE FROM user_invites WHERE expires_at <= ?', [at]);
      return sessions.changes + invites.changes;
    },
  };
}

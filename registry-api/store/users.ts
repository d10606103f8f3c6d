// Users and their API tokens. Tokens are kept as their sha256 only; a revoked token stays in the table so the API
// can say it was revoked, and when.
import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { RoleSchema, type FleetRoles } from '../../protocol/access.js';
import type { Audit } from './audit.js';
import {
  ConflictError,
  type BootstrapOutcome,
  type FleetRoleRecord,
  type NewUser,
  type TokenRecord,
  type UserRecord,
  type UserStore,
} from './index.js';
import { Nullable, type Database, type Queryable } from './sql/database.js';
import { isUniqueViolation } from './sql/errors.js';

/** The user the bootstrap token belongs to, created on the first start. */
const BOOTSTRAP_USER = 'admin';
const SYSTEM = 'system';
/** Noting every use would make each authenticated read a write. */
const LAST_USED_RESOLUTION_MS = 60_000;

const UserRow = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  role: RoleSchema,
  /** 1: no global role; `role` is a placeholder the column's constraint needs and is never read. */
  fleets_only: Type.Union([Type.Literal(0), Type.Literal(1)]),
  created_at: Type.String(),
});
type UserRow = typeof UserRow.static;
const USER_COLUMNS = 'id, name, role, fleets_only, created_at';

const FleetRoleRow = Type.Object({
  user_name: Type.String(),
  fleet: Type.String(),
  role: RoleSchema,
  granted_by: Type.String(),
  granted_at: Type.String(),
});
type FleetRoleRow = typeof FleetRoleRow.static;
/** What a user without a global role is stored with: the least, should anything ever read it. */
const PLACEHOLDER_ROLE = 'viewer';

const TokenRow = Type.Object({
  id: Type.String(),
  hash: Type.String(),
  user_id: Type.Integer(),
  user_name: Type.String(),
  label: Nullable(Type.String()),
  bootstrap: Type.Union([Type.Literal(0), Type.Literal(1)]),
  created_at: Type.String(),
  last_used_at: Nullable(Type.String()),
  revoked_at: Nullable(Type.String()),
});
type TokenRow = typeof TokenRow.static;

const Count = Type.Object({ n: Type.Integer() });

function userOf(row: UserRow, grants: readonly FleetRoleRow[]): UserRecord {
  const fleetRoles: FleetRoles = {};
  for (const grant of grants) fleetRoles[grant.fleet] = grant.role;
  return { name: row.name, role: row.fleets_only === 1 ? null : row.role, fleetRoles, createdAt: row.created_at };
}

function fleetRoleOf(row: FleetRoleRow): FleetRoleRecord {
  return {
    user: row.user_name,
    fleet: row.fleet,
    role: row.role,
    grantedBy: row.granted_by,
    grantedAt: row.granted_at,
  };
}

function tokenOf(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    user: row.user_name,
    label: row.label,
    bootstrap: row.bootstrap === 1,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

/** Short enough to type in `skiff token revoke`, long enough never to collide in practice (and the PK checks). */
function newTokenId(): string {
  return randomBytes(6).toString('hex');
}

const TOKEN_SELECT = 'SELECT t.*, u.name AS user_name FROM api_tokens t JOIN users u ON u.id = t.user_id';

export function usersOn(db: Database, audit: Audit): UserStore {
  const userNamed = (q: Queryable, name: string) =>
    q.get(UserRow, `SELECT ${USER_COLUMNS} FROM users WHERE name = ?`, [name]);
  const grantsOf = (q: Queryable, name: string) =>
    q.all(FleetRoleRow, 'SELECT * FROM fleet_roles WHERE user_name = ? ORDER BY fleet', [name]);
  const grantOf = (q: Queryable, name: string, fleet: string) =>
    q.get(FleetRoleRow, 'SELECT * FROM fleet_roles WHERE user_name = ? AND fleet = ?', [name, fleet]);
  const withGrants = async (q: Queryable, row: UserRow): Promise<UserRecord> =>
    userOf(row, await grantsOf(q, row.name));
  const tokenById = (q: Queryable, user: string, id: string) =>
    q.get(TokenRow, `${TOKEN_SELECT} WHERE u.name = ? AND t.id = ?`, [user, id]);
  const tokenByHash = (q: Queryable, hash: string) => q.get(TokenRow, `${TOKEN_SELECT} WHERE t.hash = ?`, [hash]);

  const createUser = async (tx: Queryable, user: NewUser, actor: string): Promise<UserRecord> => {
    try {
      await tx.run('INSERT INTO users (name, role, fleets_only, created_at) VALUES (?, ?, ?, ?)', [
        user.name,
        user.role ?? PLACEHOLDER_ROLE,
        user.role === null ? 1 : 0,
        user.createdAt,
      ]);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(`user '${user.name}' already exists`);
      throw err;
    }
    await audit.record(
      tx,
      { actor, at: user.createdAt },
      { action: 'user.create', target: `user:${user.name}`, fleet: null, detail: { role: user.role } },
    );
    const created = await userNamed(tx, user.name);
    if (!created) throw new Error(`user '${user.name}' vanished inside its own transaction`);
    return withGrants(tx, created);
  };

  const insertToken = async (
    tx: Queryable,
    user: UserRow,
    hash: string,
    label: string | null,
    bootstrap: boolean,
    actor: string,
    at: string,
  ): Promise<TokenRecord> => {
    const id = newTokenId();
    await tx.run(
      `INSERT INTO api_tokens (id, hash, user_id, label, bootstrap, created_at)
      VALUES (@id, @hash, @userId, @label, @bootstrap, @at)`,
      { id, hash, userId: user.id, label, bootstrap: bootstrap ? 1 : 0, at },
    );
    await audit.record(
      tx,
      { actor, at },
      { action: 'token.create', target: `user:${user.name}`, fleet: null, detail: { token: id, label } },
    );
    const created = await tokenById(tx, user.name, id);
    if (!created) throw new Error(`token ${id} of user '${user.name}' vanished inside its own transaction`);
    return tokenOf(created);
  };

  const revoke = async (tx: Queryable, token: TokenRow, actor: string, at: string): Promise<void> => {
    await tx.run('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [at, token.id]);
    await audit.record(
      tx,
      { actor, at },
      {
        action: 'token.revoke',
        target: `user:${token.user_name}`,
        fleet: null,
        detail: { token: token.id, label: token.label },
      },
    );
  };

  return {
    async create(user, stamp) {
      return db.transaction((tx) => createUser(tx, user, stamp.actor));
    },
    async get(name) {
      const row = await userNamed(db, name);
      return row ? withGrants(db, row) : null;
    },
    async list() {
      const [users, grants] = await Promise.all([
        db.all(UserRow, `SELECT ${USER_COLUMNS} FROM users ORDER BY name`),
        db.all(FleetRoleRow, 'SELECT * FROM fleet_roles ORDER BY fleet'),
      ]);
      return users.map((u) =>
        userOf(
          u,
          grants.filter((g) => g.user_name === u.name),
        ),
      );
    },
    async authenticate(tokenHash, at) {
      const row = await tokenByHash(db, tokenHash);
      if (!row) return null;
      if (row.revoked_at === null) {
        await db.run(
          'UPDATE api_tokens SET last_used_at = @at WHERE id = @id AND (last_used_at IS NULL OR last_used_at < @stale)',
          { id: row.id, at, stale: new Date(Date.parse(at) - LAST_USED_RESOLUTION_MS).toISOString() },
        );
      }
      const user = await userNamed(db, row.user_name);
      if (!user) throw new Error(`token ${row.id} belongs to user '${row.user_name}', who is not in the users table`);
      return { user: await withGrants(db, user), token: tokenOf(row) };
    },
    async createToken(userName, token, stamp) {
      return db.transaction(async (tx) => {
        const user = await userNamed(tx, userName);
        if (!user) return null;
        try {
          return await insertToken(tx, user, token.hash, token.label, false, stamp.actor, stamp.at);
        } catch (err) {
          // Only a token generated twice could collide: a broken random source, not something a caller did.
          if (isUniqueViolation(err))
            throw new Error(`a token of user '${userName}' collided with an existing one`, { cause: err });
          throw err;
        }
      });
    },
    async tokens(userName) {
      return (await db.all(TokenRow, `${TOKEN_SELECT} WHERE u.name = ? ORDER BY t.created_at, t.id`, [userName])).map(
        tokenOf,
      );
    },
    async revokeToken(userName, tokenId, stamp) {
      return db.transaction(async (tx) => {
        const token = await tokenById(tx, userName, tokenId);
        if (!token) return null;
        if (token.revoked_at === null) await revoke(tx, token, stamp.actor, stamp.at);
        const after = await tokenById(tx, userName, tokenId);
        return after ? tokenOf(after) : null;
      });
    },
    async bootstrapAdmin(tokenHash, at) {
      return db.transaction(async (tx): Promise<BootstrapOutcome> => {
        const known = await tokenByHash(tx, tokenHash);
        if (known) {
          return known.revoked_at === null
            ? { kind: 'known', user: known.user_name }
            : { kind: 'revoked', user: known.user_name, revokedAt: known.revoked_at };
        }
        if ((await tx.get(Count, 'SELECT COUNT(*) AS n FROM users'))?.n === 0) {
          await createUser(tx, { name: BOOTSTRAP_USER, role: 'admin', createdAt: at }, SYSTEM);
        }
        const admin = await userNamed(tx, BOOTSTRAP_USER);
        if (admin?.role !== 'admin' || admin.fleets_only === 1) {
          throw new Error(
            `cannot register the bootstrap admin token: there are users but no admin user '${BOOTSTRAP_USER}'`,
          );
        }
        // A changed SKIFF_ADMIN_TOKEN (or a regenerated admin-token file) replaces the old one rather than adding to it.
        const replaced = await tx.all(TokenRow, `${TOKEN_SELECT} WHERE t.bootstrap = 1 AND t.revoked_at IS NULL`);
        for (const old of replaced) await revoke(tx, old, SYSTEM, at);
        await insertToken(tx, admin, tokenHash, 'bootstrap admin token', true, SYSTEM, at);
        return { kind: 'registered', user: admin.name, replaced: replaced.length };
      });
    },
    async fleetRoles(userName) {
      return (await grantsOf(db, userName)).map(fleetRoleOf);
    },
    async grantFleetRole(userName, fleet, role, stamp) {
      return db.transaction(async (tx) => {
        const user = await userNamed(tx, userName);
        const fleetThere = await tx.get(Count, 'SELECT COUNT(*) AS n FROM fleets WHERE name = ?', [fleet]);
        if (!user || fleetThere?.n !== 1) return null;
        const before = await grantOf(tx, userName, fleet);
        if (before?.role === role) return fleetRoleOf(before);
        if (before) {
          await tx.run(
            'UPDATE fleet_roles SET role = ?, granted_by = ?, granted_at = ? WHERE user_name = ? AND fleet = ?',
            [role, stamp.actor, stamp.at, userName, fleet],
          );
        } else {
          await tx.run(
            'INSERT INTO fleet_roles (user_name, fleet, role, granted_by, granted_at) VALUES (?, ?, ?, ?, ?)',
            [userName, fleet, role, stamp.actor, stamp.at],
          );
        }
        await audit.record(tx, stamp, {
          action: 'user.fleet-role.grant',
          target: `user:${userName}`,
          fleet,
          detail: { role, previous: before?.role ?? null },
        });
        const after = await grantOf(tx, userName, fleet);
        if (!after)
          throw new Error(`the role of '${userName}' on fleet '${fleet}' vanished inside its own transaction`);
        return fleetRoleOf(after);
      });
    },
    async revokeFleetRole(userName, fleet, stamp) {
      return db.transaction(async (tx) => {
        const before = await grantOf(tx, userName, fleet);
        if (!before) return null;
        await tx.run('DELETE FROM fleet_roles WHERE user_name = ? AND fleet = ?', [userName, fleet]);
        await audit.record(tx, stamp, {
          action: 'user.fleet-role.revoke',
          target: `user:${userName}`,
          fleet,
          detail: { role: before.role },
        });
        return fleetRoleOf(before);
      });
    },
  };
}

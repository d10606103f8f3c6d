// Users and their API tokens on SQLite. Tokens are kept as their sha256 only; a revoked token stays in the table
// so the API can say it was revoked, and when.
import { randomBytes } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import type { Role } from '../../protocol/access.js';
import { ConflictError, type BootstrapOutcome, type TokenRecord, type UserRecord, type UserStore } from './index.js';
import type { SqliteAudit } from './sqlite-audit.js';
import { isUniqueViolation } from './sqlite-errors.js';

/** The user the bootstrap token belongs to, created on the first start. */
const BOOTSTRAP_USER = 'admin';
const SYSTEM = 'system';
/** Noting every use would make each authenticated read a write. */
const LAST_USED_RESOLUTION_MS = 60_000;

interface UserRow {
  id: number;
  name: string;
  role: Role;
  created_at: string;
}

interface TokenRow {
  id: string;
  hash: string;
  user_id: number;
  user_name: string;
  label: string | null;
  bootstrap: 0 | 1;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

function userOf(row: UserRow): UserRecord {
  return { name: row.name, role: row.role, createdAt: row.created_at };
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

export function sqliteUsers(db: BetterSqlite3.Database, audit: SqliteAudit): UserStore {
  const q = {
    userInsert: db.prepare('INSERT INTO users (name, role, created_at) VALUES (?, ?, ?)'),
    userGet: db.prepare<[string], UserRow>('SELECT * FROM users WHERE name = ?'),
    userList: db.prepare<[], UserRow>('SELECT * FROM users ORDER BY name'),
    userCount: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM users'),
    tokenByHash: db.prepare<[string], TokenRow>(`${TOKEN_SELECT} WHERE t.hash = ?`),
    tokenById: db.prepare<[string, string], TokenRow>(`${TOKEN_SELECT} WHERE u.name = ? AND t.id = ?`),
    tokensOf: db.prepare<[string], TokenRow>(`${TOKEN_SELECT} WHERE u.name = ? ORDER BY t.created_at, t.id`),
    activeBootstrap: db.prepare<[], TokenRow>(`${TOKEN_SELECT} WHERE t.bootstrap = 1 AND t.revoked_at IS NULL`),
    tokenInsert: db.prepare(`INSERT INTO api_tokens (id, hash, user_id, label, bootstrap, created_at)
      VALUES (@id, @hash, @userId, @label, @bootstrap, @at)`),
    tokenRevoke: db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    tokenUsed: db.prepare('UPDATE api_tokens SET last_used_at = @at WHERE id = @id AND (last_used_at IS NULL OR last_used_at < @stale)'),
  };

  const createUser = db.transaction((user: UserRecord, actor: string): UserRecord => {
    try {
      q.userInsert.run(user.name, user.role, user.createdAt);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(`user '${user.name}' already exists`);
      throw err;
    }
    audit.record({ actor, at: user.createdAt }, { action: 'user.create', target: `user:${user.name}`, fleet: null, detail: { role: user.role } });
    return userOf(q.userGet.get(user.name) as UserRow);
  });

  const insertToken = (user: UserRow, hash: string, label: string | null, bootstrap: boolean, actor: string, at: string): TokenRecord => {
    const id = newTokenId();
    q.tokenInsert.run({ id, hash, userId: user.id, label, bootstrap: bootstrap ? 1 : 0, at });
    audit.record({ actor, at }, { action: 'token.create', target: `user:${user.name}`, fleet: null, detail: { token: id, label } });
    return tokenOf(q.tokenById.get(user.name, id) as TokenRow);
  };

  const revoke = (token: TokenRow, actor: string, at: string): void => {
    q.tokenRevoke.run(at, token.id);
    audit.record({ actor, at }, { action: 'token.revoke', target: `user:${token.user_name}`, fleet: null, detail: { token: token.id, label: token.label } });
  };

  const createToken = db.transaction((userName: string, hash: string, label: string | null, actor: string, at: string) => {
    const user = q.userGet.get(userName);
    if (!user) return null;
    try {
      return insertToken(user, hash, label, false, actor, at);
    } catch (err) {
      // Only a token generated twice could collide: a broken random source, not something a caller did.
      if (isUniqueViolation(err)) throw new Error(`a token of user '${userName}' collided with an existing one`);
      throw err;
    }
  });

  const revokeToken = db.transaction((userName: string, tokenId: string, actor: string, at: string) => {
    const token = q.tokenById.get(userName, tokenId);
    if (!token) return null;
    if (token.revoked_at === null) revoke(token, actor, at);
    return tokenOf(q.tokenById.get(userName, tokenId) as TokenRow);
  });

  const bootstrapAdmin = db.transaction((hash: string, at: string): BootstrapOutcome => {
    const known = q.tokenByHash.get(hash);
    if (known) {
      return known.revoked_at === null
        ? { kind: 'known', user: known.user_name }
        : { kind: 'revoked', user: known.user_name, revokedAt: known.revoked_at };
    }
    if (q.userCount.get()?.n === 0) createUser({ name: BOOTSTRAP_USER, role: 'admin', createdAt: at }, SYSTEM);
    const admin = q.userGet.get(BOOTSTRAP_USER);
    if (!admin || admin.role !== 'admin') {
      throw new Error(`cannot register the bootstrap admin token: there are users but no admin user '${BOOTSTRAP_USER}'`);
    }
    // A changed SKIFF_ADMIN_TOKEN (or a regenerated admin-token file) replaces the old one rather than adding to it.
    const replaced = q.activeBootstrap.all();
    for (const old of replaced) revoke(old, SYSTEM, at);
    insertToken(admin, hash, 'bootstrap admin token', true, SYSTEM, at);
    return { kind: 'registered', user: admin.name, replaced: replaced.length };
  });

  return {
    async create(user, stamp) {
      return createUser.immediate(user, stamp.actor);
    },
    async get(name) {
      const row = q.userGet.get(name);
      return row ? userOf(row) : null;
    },
    async list() {
      return q.userList.all().map(userOf);
    },
    async authenticate(tokenHash, at) {
      const row = q.tokenByHash.get(tokenHash);
      if (!row) return null;
      if (row.revoked_at === null) {
        q.tokenUsed.run({ id: row.id, at, stale: new Date(Date.parse(at) - LAST_USED_RESOLUTION_MS).toISOString() });
      }
      const user = q.userGet.get(row.user_name) as UserRow;
      return { user: userOf(user), token: tokenOf(row) };
    },
    async createToken(userName, token, stamp) {
      return createToken.immediate(userName, token.hash, token.label, stamp.actor, stamp.at);
    },
    async tokens(userName) {
      return q.tokensOf.all(userName).map(tokenOf);
    },
    async revokeToken(userName, tokenId, stamp) {
      return revokeToken.immediate(userName, tokenId, stamp.actor, stamp.at);
    },
    async bootstrapAdmin(tokenHash, at) {
      return bootstrapAdmin.immediate(tokenHash, at);
    },
  };
}

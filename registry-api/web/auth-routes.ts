// Logging in and out of the dashboard, first passwords from invite codes, and admins setting passwords and making
// invites. A wrong user name and a wrong password answer alike, in the same time (passwords.ts), so the answer
// never tells which user names exist. Failed attempts are limited per user and per address (login-limits.ts).
import type { Context } from 'koa';
import type { WebSession } from '../../protocol/http/auth.js';
import { ROUTES } from '../../protocol/http/routes.js';
import type { RouteDeps } from '../deps.js';
import { authenticatedCaller, stampOf } from '../http/auth.js';
import { notFound, ProblemError, unauthorized } from '../http/problem.js';
import type { Register } from '../http/register.js';
import { userView } from '../http/routes/users.js';
import { hashSecret, newSecret } from '../keys/secrets.js';
import type { WebSessionRecord } from '../store/index.js';
import { LoginLimits } from './login-limits.js';
import { hashPassword, PasswordHasherBusy, verifyNothing, verifyPassword } from './passwords.js';
import { checkCsrf, clearSessionCookie, sessionOf, startSession } from './sessions.js';

/** How long an invite code may wait to be redeemed. */
export const INVITE_LIFETIME_MS = 7 * 24 * 3600_000;

function tooMany(what: string, waitMs: number): ProblemError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new ProblemError(
    429,
    'too-many-logins',
    `too many failed ${what} for this user or from this address: try again in ${seconds} s`,
    undefined,
    { 'Retry-After': String(seconds) },
  );
}

async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof PasswordHasherBusy)
      throw new ProblemError(
        503,
        'busy',
        'too many logins are being checked at once: try again in a moment',
        undefined,
        {
          'Retry-After': '2',
        },
      );
    throw err;
  }
}

export function authRoutes(on: Register, deps: RouteDeps, limits: LoginLimits = new LoginLimits()): void {
  const { store, logger } = deps;

  async function sessionAnswer(session: WebSessionRecord): Promise<WebSession> {
    const user = await store.users.get(session.user);
    if (!user) throw unauthorized(`the user of this session no longer exists`);
    return { user: userView(user), csrfToken: session.csrfToken, expiresAt: session.expiresAt };
  }

  /** Refuses before any hashing when the user or the address is over its limit. */
  function admit(user: string, ctx: Context, what: string): void {
    const wait = limits.blockedFor(user, ctx.ip, deps.now().getTime());
    if (wait > 0) {
      logger.warn({ user, address: ctx.ip }, `${what} refused: too many failures`);
      throw tooMany(what, wait);
    }
  }

  on(ROUTES.login, async (ctx, request) => {
    const { user, password } = await request.body();
    admit(user, ctx, 'logins');
    const stored = await store.logins.passwordOf(user);
    const good = await guarded(() => (stored === null ? verifyNothing(password) : verifyPassword(password, stored)));
    if (!good) {
      limits.failed(user, ctx.ip, deps.now().getTime());
      logger.info({ user, address: ctx.ip }, 'login failed');
      throw unauthorized('the user name or the password is wrong');
    }
    limits.succeeded(user);
    const now = deps.now();
    const session = await startSession(ctx, store, user, now);
    await store.logins.prune(now.toISOString());
    logger.info({ user, address: ctx.ip }, 'logged in');
    ctx.body = await sessionAnswer(session);
  });

  on(ROUTES.redeemInvite, async (ctx, request) => {
    const { user, code, password } = await request.body();
    admit(user, ctx, 'invite redemptions');
    const now = deps.now();
    const codeHash = hashSecret(code);
    // A wrong code costs no password hash; the redemption checks the code again as it uses it up.
    const live = await store.logins.inviteIsLive(user, codeHash, now.toISOString());
    if (
      !live ||
      !(await store.logins.redeemInvite(user, codeHash, await guarded(() => hashPassword(password)), now.toISOString()))
    ) {
      limits.failed(user, ctx.ip, now.getTime());
      logger.info({ user, address: ctx.ip }, 'invite redemption failed');
      throw unauthorized('the user name or the invite code is wrong, or the code was used or expired');
    }
    limits.succeeded(user);
    const session = await startSession(ctx, store, user, now);
    logger.info({ user, address: ctx.ip }, 'invite redeemed, logged in');
    ctx.body = await sessionAnswer(session);
  });

  on(ROUTES.webSession, async (ctx) => {
    const found = await sessionOf(ctx, store, deps.now());
    if (!found) throw unauthorized('no session: log in first (POST /v1/auth/login)');
    ctx.body = await sessionAnswer(found.session);
  });

  on(ROUTES.logout, async (ctx, request) => {
    await request.body();
    const found = await sessionOf(ctx, store, deps.now());
    if (found) {
      checkCsrf(ctx, found.session);
      await store.logins.endSession(found.idHash);
      logger.info({ user: found.session.user }, 'logged out');
    }
    clearSessionCookie(ctx);
    ctx.status = 204;
  });

  on(ROUTES.setPassword, async (ctx, request) => {
    const { password } = await request.body();
    const name = request.params.name;
    const hash = await guarded(() => hashPassword(password));
    if (!(await store.logins.setPassword(name, hash, stampOf(ctx, deps.now))))
      throw notFound(`user '${name}' does not exist`);
    logger.info({ user: name, by: authenticatedCaller(ctx).user.name }, 'password set');
    const user = await store.users.get(name);
    if (!user) throw notFound(`user '${name}' does not exist`);
    ctx.body = userView(user);
  });

  on(ROUTES.inviteUser, async (ctx, request) => {
    await request.body();
    const name = request.params.name;
    const code = newSecret();
    const now = deps.now();
    const expiresAt = new Date(now.getTime() + INVITE_LIFETIME_MS).toISOString();
    if (!(await store.logins.createInvite(name, hashSecret(code), expiresAt, stampOf(ctx, deps.now))))
      throw notFound(`user '${name}' does not exist`);
    logger.info({ user: name, by: authenticatedCaller(ctx).user.name, expiresAt }, 'invite made');
    ctx.status = 201;
    ctx.body = { user: name, code, expiresAt };
  });
}

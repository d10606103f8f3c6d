// Browser sessions: a random id in an HttpOnly cookie (the page's scripts never see it), kept in the store as its
// sha256, ending 12 hours after login. SameSite=Strict: the dashboard is one origin, its shell is public and its
// data comes by same-origin fetch, so a cookie never sent on cross-site navigations costs nothing and closes the
// classic cross-site request paths. On top of it every cookie-authenticated request that changes something must
// carry the session's CSRF token in X-CSRF-Token (synchronizer token: the server compares it with the session's
// own), so a forged request from a sibling subdomain or an old browser fails too. Secure when served over https.
import type { Context } from 'koa';
import { CSRF_HEADER, SESSION_COOKIE } from '../../protocol/http/auth.js';
import { hashSecret, newSecret, sameSecret } from '../keys/secrets.js';
import type { Store, WebSessionRecord } from '../store/index.js';
import { forbidden } from '../http/problem.js';

export const SESSION_LIFETIME_MS = 12 * 3600_000;
/** Cookie values longer than this are no session id of ours: not worth a database read. */
const MAX_COOKIE_LENGTH = 128;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The session id the browser sent, if it looks like one. */
export function sessionCookie(ctx: Context): string | null {
  const value = ctx.cookies.get(SESSION_COOKIE);
  return value !== undefined && value.length > 0 && value.length <= MAX_COOKIE_LENGTH ? value : null;
}

/** The live session of the request's cookie, with the hash of its id; null without one. */
export async function sessionOf(
  ctx: Context,
  store: Pick<Store, 'logins'>,
  now: Date,
): Promise<{ idHash: string; session: WebSessionRecord } | null> {
  const id = sessionCookie(ctx);
  if (id === null) return null;
  const idHash = hashSecret(id);
  const session = await store.logins.session(idHash, now.toISOString());
  return session ? { idHash, session } : null;
}

/** Refuses a cookie-authenticated request that changes something without the session's CSRF token. */
export function checkCsrf(ctx: Context, session: WebSessionRecord): void {
  if (SAFE_METHODS.has(ctx.method)) return;
  const sent = ctx.get(CSRF_HEADER);
  if (sent === '' || sent.length > MAX_COOKIE_LENGTH || !sameSecret(sent, session.csrfToken)) {
    throw forbidden(
      `${ctx.method} ${ctx.path} came with a session cookie but ${sent === '' ? 'without' : 'with a wrong'} ${CSRF_HEADER} header: a page of this dashboard sends its session's token (GET /v1/auth/session), scripts use an API token instead`,
    );
  }
}

/**
 * A new session for `user`, always under a new id (whatever id the browser came with is ended, never adopted: no
 * session fixation), its cookie set on the answer.
 */
export async function startSession(
  ctx: Context,
  store: Pick<Store, 'logins'>,
  user: string,
  now: Date,
): Promise<WebSessionRecord> {
  const id = newSecret();
  const previous = sessionCookie(ctx);
  const session: WebSessionRecord = {
    user,
    csrfToken: newSecret(),
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + SESSION_LIFETIME_MS).toISOString(),
  };
  await store.logins.createSession(
    { ...session, idHash: hashSecret(id) },
    previous === null ? null : hashSecret(previous),
  );
  ctx.cookies.set(SESSION_COOKIE, id, {
    httpOnly: true,
    sameSite: 'strict',
    secure: ctx.secure,
    path: '/',
    maxAge: SESSION_LIFETIME_MS,
    overwrite: true,
  });
  return session;
}

export function clearSessionCookie(ctx: Context): void {
  ctx.cookies.set(SESSION_COOKIE, '', {
    httpOnly: true,
    sameSite: 'strict',
    secure: ctx.secure,
    path: '/',
    maxAge: 0,
    overwrite: true,
  });
}

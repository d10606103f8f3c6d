// People logging in to the dashboard with a user name and password: a browser session in an HttpOnly cookie, and
// the CSRF token the page sends back in the X-CSRF-Token header on every request that changes something. Scripts
// go on using API tokens (Authorization: Bearer), which need no CSRF token: a browser never adds them on its own.
import { Type, type Static } from '@sinclair/typebox';
import { EmptyBodySchema } from '../api.js';
import { CreateUserRequestSchema, UserSchema } from '../access.js';
import { ok, type RouteSpec } from './route.js';

/** The cookie the session id travels in. */
export const SESSION_COOKIE = 'skiff_session';
/** The header a cookie-authenticated request that changes something must carry the session's CSRF token in. */
export const CSRF_HEADER = 'X-CSRF-Token';
/** Long enough to resist guessing offline with scrypt's cost; bounded so hashing stays a fixed cost. */
export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;

/** A user name as users are created with: anything else is refused (400) before any password is hashed. */
const UserNameField = CreateUserRequestSchema.properties.name;
const NewPassword = Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH });

export const LoginRequestSchema = Type.Object(
  { user: UserNameField, password: Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH }) },
  { additionalProperties: false },
);
export type LoginRequest = Static<typeof LoginRequestSchema>;

export const RedeemInviteRequestSchema = Type.Object(
  { user: UserNameField, code: Type.String({ minLength: 1, maxLength: 128 }), password: NewPassword },
  { additionalProperties: false },
);
export type RedeemInviteRequest = Static<typeof RedeemInviteRequestSchema>;

export const SetPasswordRequestSchema = Type.Object({ password: NewPassword }, { additionalProperties: false });
export type SetPasswordRequest = Static<typeof SetPasswordRequestSchema>;

/** A browser session: who is logged in, the CSRF token to send back, when the session ends. */
export const WebSessionSchema = Type.Object({
  user: UserSchema,
  csrfToken: Type.String(),
  expiresAt: Type.String(),
});
export type WebSession = Static<typeof WebSessionSchema>;

/** A one-time code the user redeems at their first login to set a password; shown in this answer only. */
export const InviteSchema = Type.Object({ user: Type.String(), code: Type.String(), expiresAt: Type.String() });
export type Invite = Static<typeof InviteSchema>;

export const AUTH_ROUTES = {
  login: {
    method: 'POST',
    path: '/v1/auth/login',
    summary: `Log in with a user name and password: sets the session cookie (${SESSION_COOKIE}), answers its CSRF token`,
    access: 'public',
    body: LoginRequestSchema,
    bodyName: 'the login',
    example: { user: 'dora', password: 'correct horse battery' },
    responses: { 200: ok('The new session', WebSessionSchema) },
  },
  redeemInvite: {
    method: 'POST',
    path: '/v1/auth/redeem',
    summary: "Set one's first password with the one-time code an admin gave, and log in",
    access: 'public',
    body: RedeemInviteRequestSchema,
    bodyName: 'the invite redemption',
    example: { user: 'dora', code: 'Zm9vYmFy', password: 'correct horse battery' },
    responses: { 200: ok('The new session', WebSessionSchema) },
  },
  webSession: {
    method: 'GET',
    path: '/v1/auth/session',
    summary: "The browser's session (from its cookie) and its CSRF token; 401 without one",
    access: 'public',
    responses: { 200: ok('The session', WebSessionSchema) },
  },
  logout: {
    method: 'POST',
    path: '/v1/auth/logout',
    summary: 'End the browser session (needs its CSRF token) and clear its cookie',
    access: 'public',
    body: EmptyBodySchema,
    bodyName: 'the logout',
    example: {},
    responses: { 204: ok('Logged out') },
  },
  setPassword: {
    method: 'PUT',
    path: '/v1/users/:name/password',
    summary: "Set a user's password; ends their browser sessions",
    access: { action: 'user.manage' },
    body: SetPasswordRequestSchema,
    bodyName: 'the password',
    example: { password: 'correct horse battery' },
    responses: { 200: ok('The user', UserSchema) },
  },
  inviteUser: {
    method: 'POST',
    path: '/v1/users/:name/invite',
    summary: 'A one-time code the user sets their password with at first login (replaces an earlier one)',
    access: { action: 'user.manage' },
    body: EmptyBodySchema,
    bodyName: 'the invite request',
    example: {},
    responses: { 201: ok('The invite; the code is shown in this answer only', InviteSchema) },
  },
} as const satisfies Record<string, RouteSpec>;

// Users and their API tokens. Admins create users; a token is shown once, in the answer that created it, and only
// its sha256 is kept. Every user may manage their own tokens; admins manage everyone's.
import type { ApiToken, NewApiToken, User } from '../../../protocol/access.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import { authenticatedCaller, stampOf } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { badRequest, notFound } from '../problem.js';
import type { Register } from '../register.js';
import { hashSecret, newSecret } from '../../keys/secrets.js';
import { fleetOr404 } from './fleets.js';
import type { TokenRecord, UserRecord, UserStore } from '../../store/index.js';

/** Names the audit log uses for actors that are no user. */
const RESERVED_NAMES: readonly string[] = ['system'];

export function userView(user: UserRecord): User {
  // Users without fleet grants keep the answer they always had.
  const granted = Object.keys(user.fleetRoles).length > 0 ? { fleetRoles: user.fleetRoles } : {};
  return { name: user.name, role: user.role, ...granted, createdAt: user.createdAt };
}

function tokenView(token: TokenRecord): ApiToken {
  return {
    id: token.id,
    user: token.user,
    label: token.label,
    createdAt: token.createdAt,
    lastUsedAt: token.lastUsedAt,
    revokedAt: token.revokedAt,
  };
}

async function userOr404(users: UserStore, name: string | undefined): Promise<UserRecord> {
  const user = name === undefined ? null : await users.get(name);
  if (!user) throw notFound(`user '${name ?? ''}' does not exist`);
  return user;
}

export function userRoutes(on: Register, deps: RouteDeps): void {
  const { store, logger } = deps;

  on(ROUTES.me, (ctx) => {
    ctx.body = userView(authenticatedCaller(ctx).user);
  });

  on(ROUTES.listUsers, async (ctx) => {
    ctx.body = (await store.users.list()).map(userView);
  });

  on(ROUTES.createUser, async (ctx, request) => {
    const body = await request.body();
    if (RESERVED_NAMES.includes(body.name))
      throw badRequest('reserved-name', `'${body.name}' is reserved: the audit log names the API itself so`);
    const user = await store.users.create(
      { name: body.name, role: body.role, createdAt: deps.now().toISOString() },
      stampOf(ctx, deps.now),
    );
    logger.info({ user: user.name, role: user.role, by: authenticatedCaller(ctx).user.name }, 'user created');
    ctx.status = 201;
    ctx.body = userView(user);
  });

  on(ROUTES.listFleetRoles, async (ctx, request) => {
    const user = await userOr404(store.users, request.params.name);
    ctx.body = await store.users.fleetRoles(user.name);
  });

  on(ROUTES.grantFleetRole, async (ctx, request) => {
    const user = await userOr404(store.users, request.params.name);
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const { role } = await request.body();
    const grant = await store.users.grantFleetRole(user.name, fleet.name, role, stampOf(ctx, deps.now));
    if (!grant) throw notFound(`user '${user.name}' or fleet '${fleet.name}' is gone`);
    logger.info(
      { user: user.name, fleet: fleet.name, role, by: authenticatedCaller(ctx).user.name },
      'fleet role granted',
    );
    ctx.body = grant;
  });

  on(ROUTES.revokeFleetRole, async (ctx, request) => {
    const user = await userOr404(store.users, request.params.name);
    const fleet = request.params.fleet;
    const grant = await store.users.revokeFleetRole(user.name, fleet, stampOf(ctx, deps.now));
    if (!grant) throw notFound(`user '${user.name}' has no role on fleet '${fleet}'`);
    logger.info({ user: user.name, fleet, by: authenticatedCaller(ctx).user.name }, 'fleet role revoked');
    ctx.body = grant;
  });

  on(ROUTES.listTokens, async (ctx, request) => {
    const user = await userOr404(store.users, request.params.name);
    ctx.body = (await store.users.tokens(user.name)).map(tokenView);
  });

  on(ROUTES.createToken, async (ctx, request) => {
    const user = await userOr404(store.users, request.params.name);
    const { label } = await request.body();
    const secret = newSecret();
    const token = await store.users.createToken(
      user.name,
      { hash: hashSecret(secret), label: label ?? null },
      stampOf(ctx, deps.now),
    );
    if (!token) throw notFound(`user '${user.name}' does not exist`);
    logger.info({ user: user.name, token: token.id, by: authenticatedCaller(ctx).user.name }, 'api token created');
    ctx.status = 201;
    ctx.body = { ...tokenView(token), token: secret } satisfies NewApiToken;
  });

  on(ROUTES.revokeToken, async (ctx, request) => {
    const user = await userOr404(store.users, request.params.name);
    const token = await store.users.revokeToken(user.name, request.params.id, stampOf(ctx, deps.now));
    if (!token) throw notFound(`user '${user.name}' has no token '${request.params.id}'`);
    logger.info({ user: user.name, token: token.id, by: authenticatedCaller(ctx).user.name }, 'api token revoked');
    ctx.body = tokenView(token);
  });
}

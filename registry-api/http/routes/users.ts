// Users and their API tokens. Admins create users; a token is shown once, in the answer that created it, and only
// its sha256 is kept. Every user may manage their own tokens; admins manage everyone's.
import type Router from '@koa/router';
import type { ApiToken, NewApiToken, User } from '../../../protocol/access.js';
import { authenticatedCaller, stampOf, type AccessControl, type ApiState } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { badRequest, notFound } from '../problem.js';
import { readBody } from '../request-body.js';
import { ROUTES } from '../route-table.js';
import { hashSecret, newSecret } from '../../keys/secrets.js';
import type { TokenRecord, UserRecord, UserStore } from '../../store/index.js';

/** Names the audit log uses for actors that are no user. */
const RESERVED_NAMES: readonly string[] = ['system'];

function userView(user: UserRecord): User {
  return { name: user.name, role: user.role, createdAt: user.createdAt };
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

export function userRoutes(router: Router<ApiState>, deps: RouteDeps, access: AccessControl): void {
  const { store, logger } = deps;

  router.get(ROUTES.me.path, access.allow('read'), (ctx) => {
    ctx.body = userView(authenticatedCaller(ctx).user);
  });

  router.get(ROUTES.listUsers.path, access.allow('user.manage'), async (ctx) => {
    ctx.body = (await store.users.list()).map(userView);
  });

  router.post(ROUTES.createUser.path, access.allow('user.manage'), async (ctx) => {
    const body = await readBody(ctx, ROUTES.createUser);
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

  router.get(ROUTES.listTokens.path, access.allow('token.manage'), async (ctx) => {
    const user = await userOr404(store.users, ctx.params.name);
    ctx.body = (await store.users.tokens(user.name)).map(tokenView);
  });

  router.post(ROUTES.createToken.path, access.allow('token.manage'), async (ctx) => {
    const user = await userOr404(store.users, ctx.params.name);
    const { label } = await readBody(ctx, ROUTES.createToken);
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

  router.delete(ROUTES.revokeToken.path, access.allow('token.manage'), async (ctx) => {
    const user = await userOr404(store.users, ctx.params.name);
    const token = await store.users.revokeToken(user.name, ctx.params.id ?? '', stampOf(ctx, deps.now));
    if (!token) throw notFound(`user '${user.name}' has no token '${ctx.params.id ?? ''}'`);
    logger.info({ user: user.name, token: token.id, by: authenticatedCaller(ctx).user.name }, 'api token revoked');
    ctx.body = tokenView(token);
  });
}

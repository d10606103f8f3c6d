// GET /v1/registry/token: the image registry's token server. Docker engines (the developer's, each device's)
// come here with HTTP Basic credentials when the registry challenges them; registry-token.ts says what each
// caller may do with which repository.
import type { Context } from 'koa';
import { ROUTES } from '../../../protocol/http/routes.js';
import { deviceFromToken } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { badRequest, notFound, ProblemError } from '../problem.js';
import {
  grant,
  issueToken,
  parseScope,
  type RegistryPrincipal,
  type RegistryScope,
} from '../../delivery/registry-token.js';
import type { Register } from '../register.js';
import { hashSecret } from '../../keys/secrets.js';

/** Docker answers a Bearer challenge with Basic credentials only when asked for them so. */
const basicUnauthorized = (detail: string): ProblemError =>
  new ProblemError(401, 'unauthorized', detail, undefined, {
    'WWW-Authenticate': 'Basic realm="skiff registry tokens"',
  });

interface BasicCredentials {
  username: string;
  password: string;
}

function basicCredentialsOf(ctx: Context): BasicCredentials | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(ctx.get('Authorization'));
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function registryTokenRoutes(on: Register, deps: RouteDeps): void {
  const { store, logger } = deps;

  /** A user by name and API token, else a device by uuid and device token; null when neither matches. */
  async function principalOf({ username, password }: BasicCredentials): Promise<RegistryPrincipal | null> {
    const now = deps.now();
    const found = await store.users.authenticate(hashSecret(password), now.toISOString());
    if (found && found.token.revokedAt === null && found.user.name === username) {
      return {
        kind: 'user',
        user: { name: found.user.name, role: found.user.role, fleetRoles: found.user.fleetRoles },
      };
    }
    // Revoked, rejected and expired devices get null here: no token, from the revocation on.
    const device = await deviceFromToken(store, password, now);
    if (device && device.uuid === username) return { kind: 'device', uuid: device.uuid, fleet: device.fleet };
    return null;
  }

  on(ROUTES.registryToken, async (ctx, request) => {
    const issuer = deps.registryToken;
    if (issuer === null) {
      throw notFound('this API issues no registry tokens: it was started without SKIFF_REGISTRY_TOKEN_KEY_FILE');
    }
    const query = request.query();
    if (query.service !== issuer.service) {
      throw badRequest(
        'invalid-query',
        `service '${query.service}' is not the registry this API issues tokens for ('${issuer.service}')`,
        [{ path: '?service', message: `must be '${issuer.service}'` }],
      );
    }
    const credentials = basicCredentialsOf(ctx);
    if (credentials === null) {
      throw basicUnauthorized(
        `${ctx.path} needs HTTP Basic credentials: a user name and API token, or a device uuid and device token`,
      );
    }
    if (query.account !== undefined && query.account !== credentials.username) {
      throw badRequest(
        'invalid-query',
        `account '${query.account}' is not the user name of the credentials ('${credentials.username}')`,
        [{ path: '?account', message: 'must be the Basic user name' }],
      );
    }
    const principal = await principalOf(credentials);
    if (principal === null) {
      throw basicUnauthorized(
        `'${credentials.username}' with that password is neither a user with a live API token nor an accepted device with a live token`,
      );
    }
    const texts = query.scope === undefined ? [] : Array.isArray(query.scope) ? query.scope : [query.scope];
    const scopes: RegistryScope[] = texts.map((text, i) => {
      const scope = parseScope(text);
      if (!scope)
        throw badRequest('invalid-query', `scope '${text}' is not of the form type:name:actions`, [
          { path: `?scope[${i}]`, message: 'must be type:name:actions' },
        ]);
      return scope;
    });
    const access = grant(principal, scopes);
    const subject = principal.kind === 'user' ? principal.user.name : principal.uuid;
    logger.info({ subject, kind: principal.kind, access }, 'registry token issued');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = issueToken(issuer, subject, access, deps.now());
  });
}

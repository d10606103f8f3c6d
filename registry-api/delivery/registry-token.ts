// registry-api as the image registry's token server (distribution's `auth: token`). The registry sends clients
// here with the scopes they need; we answer with a short-lived JWT granting the part of those scopes the caller
// may have. Image repositories are named `<fleet>/<service>` (cli/push/compose-build.ts), so the fleet is the
// first path component of a repository name.
//
// Who may do what with images:
// - developer, admin: pull and push every fleet's repositories (pushing images is part of pushing a release);
// - operator, viewer: pull every fleet's repositories (to inspect what a release runs), never push;
// - a device: pull its own fleet's repositories, nothing else; a revoked device gets no token at all.
import { createPrivateKey, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { messageOf } from '../../lib/errors.js';
import { es256Signer, type JwtSigner } from '../keys/jwt.js';
import { permits, type Principal } from '../../protocol/access-policy.js';

export type RegistryAction = 'pull' | 'push';

/** One `scope` parameter: `repository:<name>:<actions>`. */
export interface RegistryScope {
  type: string;
  name: string;
  actions: string[];
}

export interface RegistryAccess {
  type: string;
  name: string;
  actions: RegistryAction[];
}

export type RegistryPrincipal = { kind: 'user'; user: Principal } | { kind: 'device'; uuid: string; fleet: string };

/**
 * Parses a scope as distribution writes it. The name may itself hold colons (a registry host with a port), so the
 * type is everything before the first colon and the actions everything after the last one.
 */
export function parseScope(text: string): RegistryScope | null {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first || last === text.length - 1) return null;
  const name = text.slice(first + 1, last);
  if (name === '') return null;
  return {
    type: text.slice(0, first),
    name,
    actions: text
      .slice(last + 1)
      .split(',')
      .filter((a) => a !== ''),
  };
}

/** The fleet a repository belongs to: its first path component (`meters/reader` belongs to `meters`). */
export function fleetOfRepository(name: string): string | null {
  const slash = name.indexOf('/');
  return slash > 0 ? name.slice(0, slash) : null;
}

/** What `principal` may do on the repository `name`. */
export function allowedActions(principal: RegistryPrincipal, name: string): RegistryAction[] {
  if (principal.kind === 'device') return fleetOfRepository(name) === principal.fleet ? ['pull'] : [];
  const actions: RegistryAction[] = [];
  // A repository belongs to the fleet its path starts with: the user's role there decides.
  const fleet = fleetOfRepository(name);
  if (permits(principal.user, 'read', { fleet })) actions.push('pull');
  if (permits(principal.user, 'release.push', { fleet })) actions.push('push');
  return actions;
}

/** The part of each requested scope the principal may have; scopes it may have nothing of stay, empty. */
export function grant(principal: RegistryPrincipal, scopes: RegistryScope[]): RegistryAccess[] {
  return scopes.map((scope) => {
    const allowed = scope.type === 'repository' ? allowedActions(principal, scope.name) : [];
    const actions = allowed.filter((a) => scope.actions.includes(a) || scope.actions.includes('*'));
    return { type: scope.type, name: scope.name, actions };
  });
}

export interface RegistryTokenIssuer {
  /** The registry's `service` name; tokens are issued for it alone. */
  service: string;
  issuer: string;
  ttlSeconds: number;
  signer: JwtSigner;
}

export interface IssuedToken {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
}

/** Signs the token distribution verifies: iss, aud, sub, exp/nbf/iat and the granted access. */
export function issueToken(
  issuer: RegistryTokenIssuer,
  subject: string,
  access: RegistryAccess[],
  now: Date,
): IssuedToken {
  const iat = Math.floor(now.getTime() / 1000);
  const token = issuer.signer.sign({
    iss: issuer.issuer,
    sub: subject,
    aud: issuer.service,
    exp: iat + issuer.ttlSeconds,
    // A second of slack for a registry whose clock is a little behind ours.
    nbf: iat - 1,
    iat,
    jti: randomUUID(),
    access,
  });
  return { token, access_token: token, expires_in: issuer.ttlSeconds, issued_at: now.toISOString() };
}

/** Docker asks again when a token runs out; five minutes cover one pull of a large image's manifest and blobs. */
export const DEFAULT_TOKEN_TTL_SECONDS = 300;

export interface RegistryTokenConfig {
  /** PEM of the EC P-256 private key whose certificate is in the registry's rootcertbundle. */
  keyFile: string;
  service: string;
  issuer: string;
  ttlSeconds?: number;
}

export function registryTokenIssuerOf(config: RegistryTokenConfig): RegistryTokenIssuer {
  let pem: string;
  try {
    pem = readFileSync(config.keyFile, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the registry token key ${config.keyFile}: ${messageOf(err)}`, { cause: err });
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`the registry token key ${config.keyFile} is not a PEM private key: ${messageOf(err)}`, {
      cause: err,
    });
  }
  return {
    service: config.service,
    issuer: config.issuer,
    ttlSeconds: config.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS,
    signer: es256Signer(key, `the registry token key ${config.keyFile}`),
  };
}

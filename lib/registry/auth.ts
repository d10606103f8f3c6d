// How a registry client answers a 401: the registry's WWW-Authenticate challenge goes to a RegistryAuth, which
// returns the Authorization to send the request again with (once), or null when it has nothing to offer (the 401
// stands). Each program plugs in its own: the device asks the registry's token server with its credentials
// (tokenServerAuth), the API signs its own tokens for the registry it is the token server of (mintedTokenAuth).
import { parseChallenge, RegistryTokenSchema, type Challenge } from '../../protocol/oci-image.js';
import { parse } from '../../protocol/validate.js';
import { httpRequest } from '../http-request.js';

export interface RepositoryRef {
  /** host[:port] */
  registry: string;
  repository: string;
}

/** A Basic identity: towards Skiff's token server a device's uuid and device token, or a user and API token. */
export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface AuthRequest {
  ref: RepositoryRef;
  /** The 401's WWW-Authenticate header, parsed. */
  challenge: Challenge;
  /** The Authorization header the refused request carried, if any. */
  sent: string | undefined;
  signal?: AbortSignal;
}

export interface Authorization {
  /** The Authorization header's value. */
  header: string;
  /** Epoch ms from which it is asked for anew (Infinity: until a 401 refuses it). */
  expiresAt: number;
  /** Valid for every repository of the registry (Basic), not only the one asked for (a Bearer token's scope). */
  registryWide?: boolean;
}

export type RegistryAuth = (request: AuthRequest) => Promise<Authorization | null>;

/** The token server would not give a token, or the registry's challenge cannot be answered: the 401 is final. */
export class RegistryAuthError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'RegistryAuthError';
  }
}

export function basicAuthorization(credentials: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

export interface TokenServerAuthOptions {
  /** Read at each use: a device's token is renewed while it runs. Undefined: anonymous tokens only. */
  credentials?: () => RegistryCredentials | undefined;
}

/**
 * The distribution token protocol: a Bearer challenge sends us to its realm for a token (with the credentials as
 * Basic auth when there are any, anonymously otherwise), a Basic challenge is answered with the credentials.
 */
export function tokenServerAuth(options: TokenServerAuthOptions = {}): RegistryAuth {
  return async ({ ref, challenge, sent, signal }) => {
    const credentials = options.credentials?.();
    if (challenge.scheme === 'basic') {
      if (credentials === undefined) return null;
      const header = basicAuthorization(credentials);
      // Refused with these very credentials: asking again would be refused again.
      return header === sent ? null : { header, expiresAt: Number.POSITIVE_INFINITY, registryWide: true };
    }
    if (challenge.scheme !== 'bearer') return null;
    const realm = challenge.params.realm;
    if (realm === undefined)
      throw new RegistryAuthError(`registry ${ref.registry} asked for a Bearer token without a realm`);
    const tokenUrl = new URL(realm);
    if (challenge.params.service !== undefined) tokenUrl.searchParams.set('service', challenge.params.service);
    // The scope the registry names is authoritative; without one, ask for pull on the repository.
    tokenUrl.searchParams.set('scope', challenge.params.scope ?? `repository:${ref.repository}:pull`);
    const headers: Record<string, string> =
      credentials === undefined ? {} : { authorization: basicAuthorization(credentials) };
    const where = `${tokenUrl.origin}${tokenUrl.pathname}`;
    const key = `${ref.registry}/${ref.repository}`;
    const response = await httpRequest(tokenUrl, { headers, signal });
    if (!response.ok) {
      const text = (await response.text().catch(() => '')).slice(0, 300);
      throw new RegistryAuthError(
        `token request to ${where} for ${key}: ${response.status} ${response.statusText}${text === '' ? '' : `: ${text}`}`,
        response.status,
      );
    }
    const answer = parse(RegistryTokenSchema, await response.json(), `token answer from ${where}`);
    const token = answer.token ?? answer.access_token;
    if (token === undefined)
      throw new RegistryAuthError(`token answer from ${where} holds neither token nor access_token`);
    // The spec's default lifetime is 60 s; renew a little early.
    const lifetimeS = answer.expires_in ?? 60;
    return { header: `Bearer ${token}`, expiresAt: Date.now() + Math.max(1, lifetimeS - 10) * 1000 };
  };
}

/**
 * Tokens this process signs itself, for the registry whose token server it is: `mint` gets the repository and the
 * challenge's service and answers null for a registry it does not serve.
 */
export function mintedTokenAuth(
  mint: (ref: RepositoryRef, service: string | undefined) => string | null | Promise<string | null>,
  lifetimeMs: number,
): RegistryAuth {
  return async ({ ref, challenge }) => {
    if (challenge.scheme !== 'bearer') return null;
    const token = await mint(ref, challenge.params.service);
    return token === null ? null : { header: `Bearer ${token}`, expiresAt: Date.now() + lifetimeMs };
  };
}

/** The first answer of `auths`, tried in order. */
export function firstOf(...auths: RegistryAuth[]): RegistryAuth {
  return async (request) => {
    for (const auth of auths) {
      const answer = await auth(request);
      if (answer !== null) return answer;
    }
    return null;
  };
}

/** The challenge of a 401's WWW-Authenticate header; null when there is none or it cannot be read. */
export function challengeOf(header: string | null): Challenge | null {
  return header === null ? null : parseChallenge(header);
}

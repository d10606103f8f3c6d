// Talking to a distribution registry as a device: manifests by digest (verified against it), blob URLs for the
// downloader, and the registry's token dance (401 + WWW-Authenticate: Bearer realm,service,scope -> GET realm with
// the device's credentials -> a token per repository), or Basic auth where the registry asks for it.
import { createHash } from 'node:crypto';
import { MANIFEST_ACCEPT, parseChallenge, RegistryTokenSchema } from '../../protocol/oci-image.js';
import { parse } from '../../protocol/validate.js';
import type { Logger } from '../../lib/logger.js';
import { registryScheme, tlsFailureOf } from '../../lib/insecure-registries.js';
import type { HttpAuth } from './http-auth.js';
import { httpRequest, type HttpResponse } from '../../lib/http-request.js';
import { ManifestCache } from './manifest-cache.js';

export interface DigestReference {
  /** host[:port] */
  registry: string;
  repository: string;
  /** sha256:HEX of the manifest (or manifest list). */
  digest: string;
}

/** REGISTRY/REPO@sha256:HEX, as target states carry images. */
export function parseDigestReference(ref: string): DigestReference {
  const match = /^([^/]+)\/([a-z0-9]+(?:[._/-][a-z0-9]+)*)@(sha256:[a-f0-9]{64})$/.exec(ref);
  if (match === null || match[1] === undefined || match[2] === undefined || match[3] === undefined) {
    throw new Error(`image reference '${ref}' is not REGISTRY/REPOSITORY@sha256:<64 hex>`);
  }
  return { registry: match[1], repository: match[2], digest: match[3] };
}

/** A device's identity towards the registry's token server: its uuid and device key. */
export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryClientOptions {
  /** A function where the credentials change (a device's token is renewed); read at each use. */
  credentials?: RegistryCredentials | (() => RegistryCredentials | undefined);
  /** Registries (host[:port]) spoken to over plain HTTP; loopback addresses always are (as the engine treats them). */
  insecureRegistries?: readonly string[];
  log?: Logger;
}

export interface FetchedManifest {
  mediaType: string;
  digest: string;
  body: Buffer;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export class RegistryClient {
  /** Bearer tokens by registry + repository. */
  private readonly tokens = new Map<string, CachedToken>();
  /** Registries that asked for Basic auth. */
  private readonly basic = new Set<string>();
  /** Manifests by digest: the disk check and the fetcher read the same ones, and the link is metered. */
  private readonly manifests = new ManifestCache();

  constructor(private readonly options: RegistryClientOptions = {}) {}

  private credentials(): RegistryCredentials | undefined {
    const { credentials } = this.options;
    return typeof credentials === 'function' ? credentials() : credentials;
  }

  baseUrl(registry: string): string {
    return `${registryScheme(registry, this.options.insecureRegistries ?? [])}://${registry}/v2`;
  }

  blobUrl(ref: Pick<DigestReference, 'registry' | 'repository'>, digest: string): string {
    return `${this.baseUrl(ref.registry)}/${ref.repository}/blobs/${digest}`;
  }

  /** Authentication for requests to `ref`'s repository, for the downloader. */
  authFor(ref: Pick<DigestReference, 'registry' | 'repository'>): HttpAuth {
    const key = `${ref.registry}/${ref.repository}`;
    return {
      headers: () => Promise.resolve(this.headersFor(ref.registry, key)),
      renew: (_url, challenge, signal) => this.renew(ref.registry, key, challenge, signal),
    };
  }

  /**
   * The manifest (or index) `digest` of `ref`'s repository; its bytes must hash to the digest asked for. Read from
   * the registry once: later calls for the same digest are answered from the cache.
   */
  async getManifest(
    ref: Pick<DigestReference, 'registry' | 'repository'>,
    digest: string,
    signal?: AbortSignal,
  ): Promise<FetchedManifest> {
    const cached = this.manifests.get(ref.registry, ref.repository, digest);
    if (cached !== undefined) return cached;
    const url = `${this.baseUrl(ref.registry)}/${ref.repository}/manifests/${digest}`;
    const auth = this.authFor(ref);
    for (let renewed = false; ; renewed = true) {
      const response = await this.request(
        ref.registry,
        url,
        { accept: MANIFEST_ACCEPT, ...(await auth.headers(url, signal)) },
        signal,
      );
      if (response.status === 401 && !renewed) {
        await response.body?.cancel();
        if (await auth.renew(url, response.headers.get('www-authenticate'), signal)) continue;
      }
      if (!response.ok) {
        const text = (await response.text().catch(() => '')).slice(0, 300);
        throw new Error(`GET ${url}: ${response.status} ${response.statusText}${text === '' ? '' : `: ${text}`}`);
      }
      const body = Buffer.from(await response.arrayBuffer());
      const actual = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      if (actual !== digest) throw new Error(`GET ${url}: manifest bytes hash to ${actual}, not the digest asked for`);
      const mediaType = response.headers.get('content-type')?.split(';')[0]?.trim() ?? '';
      const manifest = { mediaType, digest, body };
      this.manifests.set(ref.registry, ref.repository, manifest);
      return manifest;
    }
  }

  /** A GET that, failing in the TLS handshake, says so and what to do (the usual cause: a plain-HTTP registry not listed). */
  private async request(
    registry: string,
    url: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    try {
      return await httpRequest(url, { headers, signal });
    } catch (err) {
      const tls = signal?.aborted === true ? null : tlsFailureOf(err, registry);
      if (tls === null) throw err;
      throw new Error(`GET ${url}: ${tls}`, { cause: err });
    }
  }

  private headersFor(registry: string, key: string): Record<string, string> {
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached.expiresAt > Date.now()) return { authorization: `Bearer ${cached.token}` };
    const credentials = this.credentials();
    if (this.basic.has(registry) && credentials !== undefined) {
      return {
        authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`,
      };
    }
    return {};
  }

  private async renew(registry: string, key: string, header: string | null, signal?: AbortSignal): Promise<boolean> {
    const challenge = header === null ? null : parseChallenge(header);
    if (challenge === null) return false;
    if (challenge.scheme === 'basic') {
      if (this.credentials() === undefined || this.basic.has(registry)) return false;
      this.basic.add(registry);
      return true;
    }
    if (challenge.scheme !== 'bearer') return false;
    const realm = challenge.params.realm;
    if (realm === undefined) throw new Error(`registry ${registry} asked for a Bearer token without a realm`);
    const tokenUrl = new URL(realm);
    if (challenge.params.service !== undefined) tokenUrl.searchParams.set('service', challenge.params.service);
    // The scope the registry names is authoritative; without one, ask for pull on the repository.
    tokenUrl.searchParams.set('scope', challenge.params.scope ?? `repository:${key.slice(registry.length + 1)}:pull`);
    const headers: Record<string, string> = {};
    const credentials = this.credentials();
    if (credentials !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    }
    const response = await httpRequest(tokenUrl, { headers, signal });
    if (!response.ok) {
      const text = (await response.text().catch(() => '')).slice(0, 300);
      throw new Error(
        `token request to ${tokenUrl.origin}${tokenUrl.pathname} for ${key}: ${response.status} ${response.statusText}${text === '' ? '' : `: ${text}`}`,
      );
    }
    const answer = parse(
      RegistryTokenSchema,
      await response.json(),
      `token answer from ${tokenUrl.origin}${tokenUrl.pathname}`,
    );
    const token = answer.token ?? answer.access_token;
    if (token === undefined)
      throw new Error(`token answer from ${tokenUrl.origin}${tokenUrl.pathname} holds neither token nor access_token`);
    // The spec's default lifetime is 60 s; renew a little early.
    const lifetimeS = answer.expires_in ?? 60;
    this.tokens.set(key, { token, expiresAt: Date.now() + Math.max(1, lifetimeS - 10) * 1000 });
    this.options.log?.debug({ registry, repository: key, expiresIn: lifetimeS }, 'registry token obtained');
    return true;
  }
}

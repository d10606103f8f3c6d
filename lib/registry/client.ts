// The one client Skiff speaks the distribution registry API (v2) with, on the device and in the API: manifests by tag
// or digest (the full Accept list; by digest, the bytes must hash to it), blobs as bytes, streams or URLs for the
// device's resumable downloader, blob uploads and manifest PUTs. Every request goes through send(): a 401 is answered
// once by the pluggable RegistryAuth (auth.ts) and the request sent again; what it returns is kept per repository
// (per registry for Basic) until it runs out. Built on lib/http-request.ts (node:http), not fetch: the device must
// idle small, and fetch brings undici.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { MANIFEST_ACCEPT } from '../../protocol/oci-image.js';
import { httpRequest, type HttpRequestInit, type HttpResponse } from '../http-request.js';
import { registryScheme, tlsFailureOf } from '../insecure-registries.js';
import type { Logger } from '../logger.js';
import { type Authorization, challengeOf, type RegistryAuth, type RepositoryRef } from './auth.js';
import type { ManifestCache } from './manifest-cache.js';

export type { RepositoryRef } from './auth.js';

export interface RegistryClientOptions {
  /** Registries (host[:port]) spoken to over plain HTTP; loopback ones always are (as the engine treats them). */
  insecureRegistries?: readonly string[];
  /** Answers the registry's 401 challenges; absent: a 401 is final (an anonymous client of an open registry). */
  auth?: RegistryAuth;
  /** Keeps manifests read by digest (content-addressed, so never stale); absent: each read asks the registry. */
  manifestCache?: ManifestCache;
  /** A request (token requests included) with no complete answer by then is abandoned; absent: no limit. */
  timeoutMs?: number;
  /** Where obtained credentials are noted (debug). */
  log?: Logger;
  /** Sent as User-Agent, so a registry's access log tells which program asked. */
  userAgent?: string;
}

export interface FetchedManifest {
  mediaType: string;
  /** sha256:HEX of the bytes (checked against the digest asked for, when one was). */
  digest: string;
  body: Buffer;
}

export interface ManifestHead {
  status: number;
  statusText: string;
  /** Docker-Content-Digest of the answer, if the registry sent one. */
  digest: string | null;
}

export interface SendInit {
  method?: string;
  headers?: Record<string, string>;
  /** A stream is sent once: a 401 to it is final (obtain the token with an earlier request). */
  body?: string | Uint8Array | Readable;
  signal?: AbortSignal;
}

/** A GET of `url` with the credentials of the repository it was made for: what the downloader sends its Range requests with. */
export type RegistryGet = (url: string, headers: Record<string, string>, signal?: AbortSignal) => Promise<HttpResponse>;

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** A failed TLS handshake with a registry, explained (tlsFailureOf): usually a plain-HTTP registry not listed. */
export class RegistryTlsError extends Error {
  constructor(
    method: string,
    url: string,
    readonly explanation: string,
    cause: unknown,
  ) {
    super(`${method} ${url}: ${explanation}`, { cause });
    this.name = 'RegistryTlsError';
  }
}

function sha256Of(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function mediaTypeOf(response: HttpResponse): string {
  return response.headers.get('content-type')?.split(';')[0]?.trim() ?? '';
}

/** Throws `what: STATUS TEXT: body` (the start of the registry's error document, which says why). */
async function fail(what: string, response: HttpResponse): Promise<never> {
  const text = (await response.text().catch(() => '')).slice(0, 300);
  throw new Error(`${what}: ${response.status} ${response.statusText}${text === '' ? '' : `: ${text}`}`);
}

export class RegistryClient {
  /** What auth answered, by registry/repository (or by registry for registry-wide answers). */
  private readonly authorizations = new Map<string, Authorization>();

  constructor(private readonly options: RegistryClientOptions = {}) {}

  /** The API root of `registry`; Docker Hub's is not at docker.io. */
  baseUrl(registry: string): string {
    if (registry === 'docker.io') return 'https://registry-1.docker.io/v2';
    return `${registryScheme(registry, this.options.insecureRegistries ?? [])}://${registry}/v2`;
  }

  repositoryUrl(ref: RepositoryRef): string {
    return `${this.baseUrl(ref.registry)}/${ref.repository}`;
  }

  blobUrl(ref: RepositoryRef, digest: string): string {
    return `${this.repositoryUrl(ref)}/blobs/${digest}`;
  }

  manifestUrl(ref: RepositoryRef, reference: string): string {
    return `${this.repositoryUrl(ref)}/manifests/${reference}`;
  }

  private authorizationFor(ref: RepositoryRef): Authorization | undefined {
    const now = Date.now();
    for (const key of [`${ref.registry}/${ref.repository}`, ref.registry]) {
      const found = this.authorizations.get(key);
      if (found !== undefined && found.expiresAt > now) return found;
    }
    return undefined;
  }

  private signalFor(signal: AbortSignal | undefined): AbortSignal | undefined {
    const { timeoutMs } = this.options;
    if (timeoutMs === undefined) return signal;
    const timeout = AbortSignal.timeout(timeoutMs);
    return signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  }

  /** One HTTP request; a failed TLS handshake says so and what to do (usually: a plain-HTTP registry not listed). */
  private async request(registry: string, url: string, init: HttpRequestInit): Promise<HttpResponse> {
    try {
      return await httpRequest(url, init);
    } catch (err) {
      const tls = init.signal?.aborted === true ? null : tlsFailureOf(err, registry);
      if (tls === null) throw err;
      throw new RegistryTlsError(init.method ?? 'GET', url, tls, err);
    }
  }

  /**
   * Sends a request to `ref`'s repository with what auth gave for it; a 401 is answered by auth once and the
   * request sent again. Returns the registry's answer, whatever its status.
   */
  async send(ref: RepositoryRef, url: string, init: SendInit = {}): Promise<HttpResponse> {
    const { auth } = this.options;
    for (let renewed = false; ; renewed = true) {
      const signal = this.signalFor(init.signal);
      const sent = this.authorizationFor(ref)?.header;
      const headers = {
        ...init.headers,
        ...(this.options.userAgent === undefined ? {} : { 'user-agent': this.options.userAgent }),
        ...(sent === undefined ? {} : { authorization: sent }),
      };
      const response = await this.request(ref.registry, url, { ...init, headers, signal });
      if (response.status !== 401 || renewed || auth === undefined || init.body instanceof Readable) return response;
      const challenge = challengeOf(response.headers.get('www-authenticate'));
      if (challenge === null) return response;
      const answer = await auth({ ref, challenge, sent, signal: this.signalFor(init.signal) });
      if (answer === null) return response;
      await response.body?.cancel();
      this.authorizations.set(
        answer.registryWide === true ? ref.registry : `${ref.registry}/${ref.repository}`,
        answer,
      );
      this.options.log?.debug(
        { registry: ref.registry, repository: ref.repository, expiresAt: answer.expiresAt },
        'registry credentials obtained',
      );
    }
  }

  /** GETs for `ref`'s repository, for the downloader: its own Range logic, this client's credentials. */
  getter(ref: RepositoryRef): RegistryGet {
    return (url, headers, signal) => this.send(ref, url, { headers, signal });
  }

  /**
   * The manifest (or index) `digest` of `ref`'s repository; its bytes must hash to the digest. Throws when the
   * registry has none. Served from the manifest cache when it holds it.
   */
  getManifest(ref: RepositoryRef, digest: string, signal?: AbortSignal): Promise<FetchedManifest> {
    return this.readManifest(ref, digest, signal, false) as Promise<FetchedManifest>;
  }

  /** The manifest named by digest or tag; null when the registry has none under that name. */
  manifest(ref: RepositoryRef, reference: string, signal?: AbortSignal): Promise<FetchedManifest | null> {
    return this.readManifest(ref, reference, signal, true);
  }

  private async readManifest(
    ref: RepositoryRef,
    reference: string,
    signal: AbortSignal | undefined,
    missingIsNull: boolean,
  ): Promise<FetchedManifest | null> {
    const byDigest = DIGEST.test(reference);
    const cache = this.options.manifestCache;
    const cached = byDigest ? cache?.get(ref.registry, ref.repository, reference) : undefined;
    if (cached !== undefined) return cached;
    const url = this.manifestUrl(ref, reference);
    const response = await this.send(ref, url, { headers: { accept: MANIFEST_ACCEPT }, signal });
    if (response.status === 404 && missingIsNull) {
      await response.body?.cancel();
      return null;
    }
    if (!response.ok) return fail(`GET ${url}`, response);
    const body = Buffer.from(await response.arrayBuffer());
    const digest = sha256Of(body);
    if (byDigest && digest !== reference)
      throw new Error(`GET ${url}: manifest bytes hash to ${digest}, not the digest asked for`);
    const manifest = { mediaType: mediaTypeOf(response), digest, body };
    if (byDigest) cache?.set(ref.registry, ref.repository, manifest);
    return manifest;
  }

  /** HEAD of a manifest: whether the registry has it (status) and under which digest. */
  async headManifest(ref: RepositoryRef, reference: string, signal?: AbortSignal): Promise<ManifestHead> {
    const response = await this.send(ref, this.manifestUrl(ref, reference), {
      method: 'HEAD',
      headers: { accept: MANIFEST_ACCEPT },
      signal,
    });
    return {
      status: response.status,
      statusText: response.statusText,
      digest: response.headers.get('docker-content-digest'),
    };
  }

  /** A blob's bytes, checked against its digest: for configs and other small documents. */
  async blobBytes(ref: RepositoryRef, digest: string, signal?: AbortSignal): Promise<Buffer> {
    const url = this.blobUrl(ref, digest);
    const response = await this.send(ref, url, { signal });
    if (!response.ok) return fail(`GET ${url}`, response);
    const body = Buffer.from(await response.arrayBuffer());
    const actual = sha256Of(body);
    if (DIGEST.test(digest) && actual !== digest) throw new Error(`GET ${url}: blob bytes hash to ${actual}`);
    return body;
  }

  /** A blob as a stream (the caller checks its digest while reading, as a layer is too large to hold). */
  async blobStream(ref: RepositoryRef, digest: string, signal?: AbortSignal): Promise<Readable> {
    const url = this.blobUrl(ref, digest);
    const response = await this.send(ref, url, { signal });
    if (!response.ok || response.body === null) return fail(`GET ${url}`, response);
    return Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>);
  }

  async hasBlob(ref: RepositoryRef, digest: string, signal?: AbortSignal): Promise<boolean> {
    const response = await this.send(ref, this.blobUrl(ref, digest), { method: 'HEAD', signal });
    return response.ok;
  }

  /** Uploads a blob (monolithic: POST for a session, PUT with the digest) unless the repository has it. */
  async pushBlob(ref: RepositoryRef, digest: string, source: { path: string } | { bytes: Buffer }): Promise<void> {
    if (await this.hasBlob(ref, digest)) return;
    const where = `${ref.registry}/${ref.repository}`;
    const base = this.repositoryUrl(ref);
    const start = await this.send(ref, `${base}/blobs/uploads/`, { method: 'POST' });
    const location = start.headers.get('location');
    if (start.status !== 202 || location === null) return fail(`blob upload to ${where}`, start);
    await start.body?.cancel();
    const url = new URL(location, base);
    url.searchParams.set('digest', digest);
    const size = 'bytes' in source ? source.bytes.length : (await stat(source.path)).size;
    // The POST above obtained any token needed; a file stream cannot be sent twice.
    const body = 'bytes' in source ? new Uint8Array(source.bytes) : createReadStream(source.path);
    const put = await this.send(ref, url.toString(), {
      method: 'PUT',
      body,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    });
    if (put.status !== 201) return fail(`PUT blob ${digest} to ${where}`, put);
    await put.body?.cancel();
  }

  async putManifest(ref: RepositoryRef, reference: string, mediaType: string, body: Buffer): Promise<void> {
    const url = this.manifestUrl(ref, reference);
    const response = await this.send(ref, url, {
      method: 'PUT',
      body: new Uint8Array(body),
      headers: { 'content-type': mediaType },
    });
    if (response.status !== 201) return fail(`PUT ${url}`, response);
    await response.body?.cancel();
  }
}

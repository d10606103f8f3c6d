// What delta generation needs from a distribution registry: manifests and blobs to read, patch blobs and the delta
// artifact's manifest to write. The API is the registry's token server, so it signs its own token for the
// repository (pull,push) when the registry asks for one; an anonymous registry needs none.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { MANIFEST_ACCEPT, parseChallenge } from '../../../protocol/oci-image.js';
import { registryScheme } from '../../../lib/insecure-registries.js';

export interface RepositoryRef {
  /** host:port */
  registry: string;
  repository: string;
}

/**
 * A Bearer token for `ref` (pull and push) when the registry's challenge names a service this API signs tokens for;
 * null otherwise (the request then fails with the registry's 401).
 */
export type TokenSource = (ref: RepositoryRef, challenge: { service?: string }) => Promise<string | null>;

export interface RegistryIoOptions {
  insecureRegistries?: readonly string[];
  tokenFor?: TokenSource;
}

export class RegistryIo {
  /** Tokens by registry/repository, obtained after a 401 and reused until shortly before they run out. */
  private readonly tokens = new Map<string, { token: string; until: number }>();

  constructor(private readonly options: RegistryIoOptions = {}) {}

  private base(ref: RepositoryRef): string {
    return `${registryScheme(ref.registry, this.options.insecureRegistries ?? [])}://${ref.registry}/v2/${ref.repository}`;
  }

  private async send(ref: RepositoryRef, url: string, init: RequestInit = {}, replayable = true): Promise<Response> {
    const key = `${ref.registry}/${ref.repository}`;
    for (let renewed = false; ; renewed = true) {
      const headers = new Headers(init.headers);
      const cached = this.tokens.get(key);
      if (cached !== undefined && cached.until > Date.now()) headers.set('authorization', `Bearer ${cached.token}`);
      const response = await fetch(url, {
        ...init,
        headers,
        ...(init.body instanceof Readable ? { duplex: 'half' } : {}),
      } as RequestInit);
      if (response.status !== 401 || renewed || !replayable || this.options.tokenFor === undefined) return response;
      const challenge = parseChallenge(response.headers.get('www-authenticate') ?? '');
      if (challenge === null || challenge.scheme !== 'bearer') return response;
      const token = await this.options.tokenFor(ref, { service: challenge.params.service });
      if (token === null) return response;
      await response.body?.cancel();
      // Tokens live minutes; a minute is safely inside that.
      this.tokens.set(key, { token, until: Date.now() + 60_000 });
    }
  }

  private static async fail(what: string, response: Response): Promise<never> {
    const text = (await response.text().catch(() => '')).slice(0, 300);
    throw new Error(`${what}: ${response.status} ${response.statusText}${text === '' ? '' : `: ${text}`}`);
  }

  /** The manifest named by digest or tag; null when the registry has none under that name. */
  async manifest(ref: RepositoryRef, reference: string): Promise<{ mediaType: string; body: Buffer } | null> {
    const url = `${this.base(ref)}/manifests/${reference}`;
    const response = await this.send(ref, url, { headers: { accept: MANIFEST_ACCEPT } });
    if (response.status === 404) {
      await response.body?.cancel();
      return null;
    }
    if (!response.ok) return RegistryIo.fail(`GET ${url}`, response);
    const body = Buffer.from(await response.arrayBuffer());
    return { mediaType: response.headers.get('content-type')?.split(';')[0]?.trim() ?? '', body };
  }

  async blobBytes(ref: RepositoryRef, digest: string): Promise<Buffer> {
    const url = `${this.base(ref)}/blobs/${digest}`;
    const response = await this.send(ref, url);
    if (!response.ok) return RegistryIo.fail(`GET ${url}`, response);
    return Buffer.from(await response.arrayBuffer());
  }

  async blobStream(ref: RepositoryRef, digest: string): Promise<Readable> {
    const url = `${this.base(ref)}/blobs/${digest}`;
    const response = await this.send(ref, url);
    if (!response.ok || response.body === null) return RegistryIo.fail(`GET ${url}`, response);
    return Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  }

  async hasBlob(ref: RepositoryRef, digest: string): Promise<boolean> {
    const url = `${this.base(ref)}/blobs/${digest}`;
    const response = await this.send(ref, url, { method: 'HEAD' });
    return response.ok;
  }

  /** Uploads a blob (monolithic: POST for a session, PUT with the digest) unless the repository has it. */
  async pushBlob(ref: RepositoryRef, digest: string, source: { path: string } | { bytes: Buffer }): Promise<void> {
    if (await this.hasBlob(ref, digest)) return;
    const start = await this.send(ref, `${this.base(ref)}/blobs/uploads/`, { method: 'POST' });
    const location = start.headers.get('location');
    if (start.status !== 202 || location === null)
      return RegistryIo.fail(`blob upload to ${ref.registry}/${ref.repository}`, start);
    const url = new URL(location, this.base(ref));
    url.searchParams.set('digest', digest);
    const size = 'bytes' in source ? source.bytes.length : (await stat(source.path)).size;
    const body = 'bytes' in source ? new Uint8Array(source.bytes) : createReadStream(source.path);
    // The POST above obtained any token needed; a file stream cannot be sent twice.
    const put = await this.send(
      ref,
      url.toString(),
      {
        method: 'PUT',
        body: body as BodyInit,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      },
      'bytes' in source,
    );
    if (put.status !== 201) return RegistryIo.fail(`PUT blob ${digest} to ${ref.registry}/${ref.repository}`, put);
  }

  async putManifest(ref: RepositoryRef, tag: string, mediaType: string, body: Buffer): Promise<void> {
    const url = `${this.base(ref)}/manifests/${tag}`;
    const response = await this.send(ref, url, {
      method: 'PUT',
      body: new Uint8Array(body),
      headers: { 'content-type': mediaType },
    });
    if (response.status !== 201) return RegistryIo.fail(`PUT ${url}`, response);
  }
}

// Getting the bundle onto the device. The updater needs only "this URL into that file, resumable, and it must have
// this digest"; the delivery downloader (../images/download) is meant to provide that with bandwidth caps. Until
// its whole-file API lands, this fetcher does it with plain Range requests on the same resumable partial file,
// through the supervisor's own HTTP client (lib/http-request.ts: node:http, no undici kept resident).
import { httpRequest } from '../../lib/http-request.js';
import { PartialFile } from '../images/download/partial-file.js';

export interface BundleRequest {
  url: string;
  digest: string;
  size: number;
  /** Extra request headers (the device's credentials). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface BundleFetcher {
  /** Downloads into `dest` (resuming a previous partial download); the file there has the digest and size asked for. */
  fetchToFile(request: BundleRequest, dest: string): Promise<void>;
}

export class RangeBundleFetcher implements BundleFetcher {
  constructor(private readonly partialDir: string) {}

  async fetchToFile(request: BundleRequest, dest: string): Promise<void> {
    const partial = await PartialFile.open(this.partialDir, request.digest);
    let committed = false;
    try {
      if (partial.offset > request.size) await partial.reset();
      if (partial.offset < request.size) await this.receive(partial, request);
      if (partial.offset !== request.size || partial.digest() !== request.digest) {
        const got = `${partial.offset} bytes, ${partial.digest()}`;
        await partial.reset();
        throw new Error(
          `bundle ${request.url} does not match the release: expected ${request.size} bytes, ${request.digest}; got ${got}`,
        );
      }
      await partial.commit(dest);
      committed = true;
    } finally {
      if (!committed) await partial.close();
    }
  }

  private async receive(partial: PartialFile, request: BundleRequest): Promise<void> {
    const from = partial.offset;
    const headers: Record<string, string> = { ...request.headers };
    if (from > 0) headers.range = `bytes=${from}-`;
    const response = await httpRequest(request.url, { headers, signal: request.signal });
    if (response.status === 200 && from > 0) await partial.reset();
    else if (response.status !== 206 && response.status !== 200) {
      // An answer left unread would hold its connection open.
      await response.body?.cancel();
      throw new Error(`GET ${request.url} (from byte ${from}) answered ${response.status} ${response.statusText}`);
    }
    if (response.body === null) throw new Error(`GET ${request.url} answered without a body`);
    for await (const chunk of response.body) await partial.append(chunk);
  }
}

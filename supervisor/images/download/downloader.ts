// The one way Skiff brings bytes onto a device: HTTP Range requests paced by a token bucket, appended to a partial
// file that survives restarts, hashed while written and checked against the expected digest. Every failure that
// can pass (cut connection, 5xx, timeout, corrupted bytes) is retried with backoff until the caller's signal
// aborts (e.g. the update window closed); only answers that cannot change by retrying (404, 403, a final 401)
// end the download with an error, and, when the caller has a fallback (a delta patch has its whole layer), bytes
// that keep arriving corrupt. Credentials are not its business: a registry's requests go through the registry
// client's getter, which renews them once on a 401 (lib/registry/client.ts).
import type { Logger } from '../../../lib/logger.js';
import { messageOf } from '../../../lib/errors.js';
import { backoffDelay, withJitter, type BackoffPolicy } from '../../../lib/backoff.js';
import type { RegistryGet } from '../../../lib/registry/client.js';
import { httpRequest, type HttpResponse } from '../../../lib/http-request.js';
import { PartialFile } from './partial-file.js';
import { realClock, type Clock, type TokenBucket } from '../bandwidth/token-bucket.js';

export interface DownloadProgress {
  digest: string;
  /** Bytes held so far (resumed bytes included). */
  done: number;
  /** Expected bytes; null until the server said. */
  total: number | null;
}

export interface DownloadOptions {
  /** sha256:HEX the bytes must hash to. */
  digest: string;
  /** Expected size, if known (registry descriptors carry it); otherwise learnt from the server. */
  size?: number;
  /** Where the partial file lives; keyed by digest, so any later download of the same digest resumes it. */
  partialDir: string;
  /** The device's shared bandwidth cap; absent: no cap. */
  bucket?: TokenBucket;
  /** How each request goes out: a registry client's getter (with the repository's credentials); absent: plain GETs. */
  get?: RegistryGet;
  signal?: AbortSignal;
  retry?: BackoffPolicy;
  /** A request that receives nothing for this long is cut and retried. */
  idleTimeoutMs?: number;
  log?: Logger;
  onProgress?: (progress: DownloadProgress) => void;
  clock?: Clock;
  /**
   * Complete downloads that may fail their digest before the download gives up with a DownloadError; absent: no
   * limit (a layer has no other source, so it is fetched again until the signal aborts).
   */
  maxDigestMismatches?: number;
}

export interface DownloadResult {
  size: number;
  /** Response body bytes received over the network in this call (corrupt ones included). */
  fetchedBytes: number;
  /** Bytes that were already on disk when this call started. */
  resumedFrom: number;
  /** How often the complete bytes did not hash to the digest and were fetched again. */
  digestMismatches: number;
  requests: number;
}

/** An answer that retrying will not change. */
export class DownloadError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

const DEFAULT_RETRY: BackoffPolicy = { initialMs: 1_000, maxMs: 60_000 };
const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

interface Session {
  url: string;
  options: DownloadOptions;
  partial: PartialFile;
  size: number | undefined;
  fetchedBytes: number;
  requests: number;
}

/**
 * Downloads `url` to `dest` (written only once complete and verified). Resumes a partial download of the same
 * digest left by an earlier call or process.
 */
export async function downloadToFile(url: string, dest: string, options: DownloadOptions): Promise<DownloadResult> {
  const clock = options.clock ?? realClock;
  const retry = options.retry ?? DEFAULT_RETRY;
  const partial = await PartialFile.open(options.partialDir, options.digest);
  const session: Session = { url, options, partial, size: options.size, fetchedBytes: 0, requests: 0 };
  const resumedFrom = partial.offset;
  if (resumedFrom > 0)
    options.log?.info({ digest: options.digest, offset: resumedFrom, size: options.size }, 'resuming download');
  let digestMismatches = 0;
  let failures = 0;
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      if (session.size !== undefined && partial.offset > session.size) await partial.reset();
      if (session.size !== undefined && partial.offset === session.size) {
        const actual = partial.digest();
        if (actual === options.digest) {
          await partial.commit(dest);
          return {
            size: session.size,
            fetchedBytes: session.fetchedBytes,
            resumedFrom,
            digestMismatches,
            requests: session.requests,
          };
        }
        digestMismatches++;
        failures++;
        await partial.reset();
        if (options.maxDigestMismatches !== undefined && digestMismatches >= options.maxDigestMismatches) {
          throw new DownloadError(
            `GET ${url}: ${digestMismatches} complete downloads hashed to ${actual}, not ${options.digest}: giving up`,
          );
        }
        options.log?.warn(
          { url, expected: options.digest, actual, size: session.size },
          'downloaded bytes do not match their digest: fetching again',
        );
        await clock.sleep(withJitter(backoffDelay(failures, retry), 0.2), options.signal);
        continue;
      }
      try {
        const received = await fetchChunk(session);
        if (received > 0) failures = 0;
      } catch (err) {
        if (options.signal?.aborted === true || err instanceof DownloadError) throw err;
        if (isDiskFull(err)) {
          // Retrying cannot help until something else frees space, and the partial file holding the disk full
          // would keep the device from writing anything else (a new, smaller target included): it goes.
          const held = partial.offset;
          await partial.reset().catch(() => undefined);
          throw new DownloadError(
            `no space left in ${options.partialDir} for blob ${options.digest} ` +
              `(${held} of ${session.size ?? 'unknown'} bytes held, dropped): free space on the device's data partition`,
          );
        }
        failures++;
        const delay = withJitter(backoffDelay(failures, retry), 0.2);
        options.log?.warn(
          { url, offset: partial.offset, attempt: failures, retryInMs: delay, err: messageOf(err) },
          'download interrupted',
        );
        await clock.sleep(delay, options.signal);
      }
    }
  } catch (err) {
    await partial.close();
    throw err;
  }
}

/** Whether `err` says the file system (or the user's quota on it) is full. */
function isDiskFull(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** One Range request; appends what arrives (also when cut short). Returns the body bytes kept. */
async function fetchChunk(session: Session): Promise<number> {
  const { url, options, partial } = session;
  const bucket = options.bucket;
  const chunk = bucket?.chunkSize() ?? Number.MAX_SAFE_INTEGER;
  const offset = partial.offset;
  const want = session.size === undefined ? chunk : Math.min(chunk, session.size - offset);
  await bucket?.take(want, options.signal);
  let kept = 0;
  try {
    const response = await request(session, `bytes=${offset}-${offset + want - 1}`);
    const body = response.body;
    if (response.status === 416) {
      await body?.cancel();
      // Nothing at this offset: what is held is longer than (or not) the blob. Start over.
      await partial.reset();
      return 0;
    }
    if (response.status === 200) {
      // The server ignored the Range: the body starts at byte 0.
      if (offset > 0) await partial.reset();
      const length = Number(response.headers.get('content-length'));
      if (session.size === undefined && Number.isSafeInteger(length)) session.size = length;
    } else if (response.status === 206) {
      const range = parseContentRange(response.headers.get('content-range'));
      if (range === null || range.start !== offset) {
        await body?.cancel();
        throw new Error(
          `GET ${url}: asked for bytes from ${offset}, got Content-Range '${response.headers.get('content-range') ?? ''}'`,
        );
      }
      if (range.total !== null) {
        if (session.size !== undefined && range.total !== session.size) {
          await body?.cancel();
          throw new DownloadError(
            `GET ${url}: the server has ${range.total} bytes, the descriptor says ${session.size}`,
          );
        }
        session.size = range.total;
      }
    }
    if (body === null) return 0;
    const limit = (session.size ?? Number.MAX_SAFE_INTEGER) - partial.offset;
    const idle = options.idleTimeoutMs ?? 30_000;
    for await (const bytes of withIdleTimeout(body, idle, url)) {
      const room = limit - kept;
      if (room <= 0) break;
      const piece = bytes.length > room ? bytes.subarray(0, room) : bytes;
      session.fetchedBytes += bytes.length;
      await partial.append(piece);
      kept += piece.length;
      options.onProgress?.({ digest: options.digest, done: partial.offset, total: session.size ?? null });
    }
    return kept;
  } finally {
    if (kept < want) bucket?.refund(want - kept);
  }
}

const plainGet: RegistryGet = (url, headers, signal) => httpRequest(url, { headers, signal, redirect: 'follow' });

async function request(session: Session, range: string): Promise<HttpResponse> {
  const { url, options } = session;
  session.requests++;
  // A proxy that compresses would break byte offsets.
  const headers = { range, 'accept-encoding': 'identity' };
  const response = await (options.get ?? plainGet)(url, headers, options.signal);
  if (response.status === 200 || response.status === 206 || response.status === 416) return response;
  const text = (await response.text().catch(() => '')).slice(0, 300);
  const message = `GET ${url}: ${response.status} ${response.statusText}${text === '' ? '' : `: ${text}`}`;
  // A 401 reaching here was final: the getter has renewed the credentials once already, or had none to offer.
  if (RETRYABLE_STATUS.has(response.status)) throw new Error(message);
  throw new DownloadError(message, response.status);
}

function parseContentRange(header: string | null): { start: number; end: number; total: number | null } | null {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header?.trim() ?? '');
  if (match === null) return null;
  return { start: Number(match[1]), end: Number(match[2]), total: match[3] === '*' ? null : Number(match[3]) };
}

/** The body's chunks; a body that stalls for `ms` is cancelled with an error (the bytes before it are kept). */
async function* withIdleTimeout(body: ReadableStream<Uint8Array>, ms: number, url: string): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`GET ${url}: no data for ${ms} ms`)), ms);
      });
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await Promise.race([reader.read(), stalled]);
      } finally {
        clearTimeout(timer);
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

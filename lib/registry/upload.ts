// Blob uploads of the distribution API (v2) beyond the client's one-shot pushBlob: a cross-repository mount when
// the blob is already in the same registry, a monolithic PUT for small blobs, and chunked PATCHes (Content-Range)
// for large ones, so a layer streams from one registry to another without ever being held whole in memory.
import type { Readable } from 'node:stream';
import type { RegistryClient, RepositoryRef } from './client.js';

/** Blobs up to this size go in one PUT; larger ones in PATCHes of this size. */
export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;

export interface BlobUploadOptions {
  /** Another repository of the same registry that has the blob: asked to mount it first (no bytes move). */
  mountFrom?: string;
  chunkBytes?: number;
  /** Bytes sent so far, after each chunk. */
  onProgress?(sentBytes: number): void;
  signal?: AbortSignal;
}

export type BlobUploadResult = 'present' | 'mounted' | 'uploaded';

/** Reads `stream` in pieces of exactly `size` bytes (the last one shorter). */
async function* piecesOf(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let held: Buffer[] = [];
  let heldBytes = 0;
  for await (const chunk of stream) {
    let buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    while (heldBytes + buffer.length >= size) {
      const take = size - heldBytes;
      held.push(buffer.subarray(0, take));
      yield Buffer.concat(held);
      buffer = buffer.subarray(take);
      held = [];
      heldBytes = 0;
    }
    if (buffer.length > 0) {
      held.push(buffer);
      heldBytes += buffer.length;
    }
  }
  if (heldBytes > 0) yield Buffer.concat(held);
}

async function failed(what: string, response: { status: number; statusText: string; text(): Promise<string> }) {
  const text = (await response.text().catch(() => '')).slice(0, 300);
  return new Error(`${what}: ${response.status} ${response.statusText}${text === '' ? '' : `: ${text}`}`);
}

/**
 * Makes `ref`'s repository have blob `digest` of `size` bytes, read from `open()` only if it must be sent. The
 * registry checks the bytes against the digest when the upload is closed; a mismatch is its 400, thrown.
 */
export async function uploadBlob(
  client: RegistryClient,
  ref: RepositoryRef,
  digest: string,
  size: number,
  open: () => Promise<Readable>,
  options: BlobUploadOptions = {},
): Promise<BlobUploadResult> {
  const where = `${ref.registry}/${ref.repository}`;
  if (await client.hasBlob(ref, digest, options.signal)) return 'present';
  const base = client.repositoryUrl(ref);
  const startUrl = new URL(`${base}/blobs/uploads/`);
  if (options.mountFrom !== undefined && options.mountFrom !== ref.repository) {
    startUrl.searchParams.set('mount', digest);
    startUrl.searchParams.set('from', options.mountFrom);
  }
  const start = await client.send(ref, startUrl.toString(), { method: 'POST', signal: options.signal });
  // 201: mounted from the other repository; 202: an upload session (also the answer when a mount is refused).
  if (start.status === 201) {
    await start.body?.cancel();
    return 'mounted';
  }
  let location = start.headers.get('location');
  if (start.status !== 202 || location === null) throw await failed(`starting a blob upload to ${where}`, start);
  await start.body?.cancel();

  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const stream = await open();
  let sent = 0;
  let last: Buffer | null = null;
  try {
    for await (const piece of piecesOf(stream, chunkBytes)) {
      // A source that sends more than its descriptor says is cut off, not followed.
      if (sent + (last?.length ?? 0) + piece.length > size)
        throw new Error(
          `blob ${digest} for ${where}: the source sends more than the ${size} bytes its descriptor says`,
        );
      // Hold one piece back: the last goes with the closing PUT, so a small blob is one request.
      if (last !== null) {
        const url = new URL(location, base).toString();
        const patch = await client.send(ref, url, {
          method: 'PATCH',
          body: new Uint8Array(last),
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(last.length),
            'content-range': `${sent}-${sent + last.length - 1}`,
          },
          signal: options.signal,
        });
        if (patch.status !== 202) throw await failed(`PATCH of blob ${digest} to ${where} at byte ${sent}`, patch);
        location = patch.headers.get('location') ?? location;
        await patch.body?.cancel();
        sent += last.length;
        options.onProgress?.(sent);
      }
      last = piece;
    }
  } finally {
    stream.destroy();
  }
  const tail = last ?? Buffer.alloc(0);
  if (sent + tail.length !== size)
    throw new Error(
      `blob ${digest} for ${where}: the source gave ${sent + tail.length} bytes, its descriptor says ${size}`,
    );
  const close = new URL(location, base);
  close.searchParams.set('digest', digest);
  const put = await client.send(ref, close.toString(), {
    method: 'PUT',
    body: new Uint8Array(tail),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(tail.length) },
    signal: options.signal,
  });
  if (put.status !== 201) throw await failed(`closing the upload of blob ${digest} to ${where}`, put);
  await put.body?.cancel();
  options.onProgress?.(size);
  return 'uploaded';
}

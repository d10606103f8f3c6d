// A registry layer blob as the uncompressed tar its diffID names, on disk for the diff tools: streamed from the
// registry, gunzipped on the way, and checked twice (the blob against its digest, the tar against the diffID), so a
// patch is only ever computed between the exact tars a device holds and needs.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { RegistryIo, RepositoryRef } from './registry-io.js';

function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
}

/** Gunzips a gzip stream, passes anything else (an uncompressed layer) as it is. */
function maybeGunzip(): Transform {
  let decided: Transform | null = null;
  const out = new PassThrough();
  const sniff = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (decided === null) {
        decided = chunk[0] === 0x1f && chunk[1] === 0x8b ? createGunzip() : new PassThrough();
        decided.on('data', (data: Buffer) => out.write(data));
        decided.on('error', (err) => sniff.destroy(err));
      }
      if (decided.write(chunk)) done();
      else decided.once('drain', () => done());
    },
    flush(done) {
      if (decided === null) {
        out.end();
        done();
        return;
      }
      decided.once('end', () => {
        out.end();
        done();
      });
      decided.end();
    },
  });
  sniff.on('data', () => undefined);
  // The output side: what the decompressor produced.
  return Object.assign(sniff, { output: out }) as Transform;
}

export interface LayerBlob {
  /** sha256:... of the (compressed) registry blob. */
  digest: string;
  /** sha256:... of the uncompressed tar. */
  diffId: string;
}

/** Writes the layer's uncompressed tar to `file`; returns its size. Throws when either digest does not match. */
export async function fetchLayerTar(io: RegistryIo, ref: RepositoryRef, layer: LayerBlob, file: string): Promise<number> {
  const blobHash = createHash('sha256');
  const tarHash = createHash('sha256');
  const source: Readable = await io.blobStream(ref, layer.digest);
  const unzip = maybeGunzip() as Transform & { output: PassThrough };
  const written = pipeline(unzip.output, hashing(tarHash), createWriteStream(file));
  await pipeline(source, hashing(blobHash), unzip);
  await written;
  const where = `${ref.registry}/${ref.repository}`;
  const blobDigest = `sha256:${blobHash.digest('hex')}`;
  if (blobDigest !== layer.digest) throw new Error(`layer blob ${layer.digest} of ${where} arrived as ${blobDigest}`);
  const tarDigest = `sha256:${tarHash.digest('hex')}`;
  if (tarDigest !== layer.diffId) throw new Error(`layer ${layer.digest} of ${where} unpacks to ${tarDigest}, its config says ${layer.diffId}`);
  return (await stat(file)).size;
}

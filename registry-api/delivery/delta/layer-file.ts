// A registry layer blob as the uncompressed tar its diffID names, on disk for the diff tools: streamed from the
// registry, decompressed on the way (by its media type), and checked twice (the blob against its digest, the tar
// against the diffID), so a patch is only ever computed between the exact tars a device holds and needs.
import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { RegistryClient, RepositoryRef } from '../../../lib/registry/client.js';

function hashing(hash: Hash): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
}

export interface LayerBlob {
  mediaType: string;
  /** sha256:... of the (compressed) registry blob. */
  digest: string;
  /** sha256:... of the uncompressed tar. */
  diffId: string;
}

function decompressorFor(mediaType: string): Transform {
  if (/gzip$/.test(mediaType)) return createGunzip();
  if (/tar$/.test(mediaType)) return new PassThrough();
  throw new Error(`layer media type ${mediaType} is not one delta generation unpacks (gzip or plain tar)`);
}

/** Writes the layer's uncompressed tar to `file`; returns its size. Throws when either digest does not match. */
export async function fetchLayerTar(
  io: RegistryClient,
  ref: RepositoryRef,
  layer: LayerBlob,
  file: string,
): Promise<number> {
  const blobHash = createHash('sha256');
  const tarHash = createHash('sha256');
  await pipeline(
    await io.blobStream(ref, layer.digest),
    hashing(blobHash),
    decompressorFor(layer.mediaType),
    hashing(tarHash),
    createWriteStream(file),
  );
  const where = `${ref.registry}/${ref.repository}`;
  const blobDigest = `sha256:${blobHash.digest('hex')}`;
  if (blobDigest !== layer.digest) throw new Error(`layer blob ${layer.digest} of ${where} arrived as ${blobDigest}`);
  const tarDigest = `sha256:${tarHash.digest('hex')}`;
  if (tarDigest !== layer.diffId)
    throw new Error(`layer ${layer.digest} of ${where} unpacks to ${tarDigest}, its config says ${layer.diffId}`);
  return (await stat(file)).size;
}

// Layer tars out of a `docker save` stream, picked by diffID, for patching. Both layouts are read:
// classic (Engine < 25: <v1-id>/layer.tar, identified here by hashing, since manifest.json that maps them comes last)
// and OCI (Engine 25+: blobs/sha256/<hex>, where an uncompressed layer's name is its diffID, so unwanted blobs are
// skipped without touching the disk). Every file kept is checked against its diffID while it is written.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readTar, type TarEntry } from './tar-reader.js';

const OCI_BLOB = /^(?:\.\/)?blobs\/sha256\/([a-f0-9]{64})$/;
const CLASSIC_LAYER = /^(?:\.\/)?[a-f0-9]{64}\/layer\.tar$/;

export function fileNameOf(diffId: string): string {
  return `${diffId.replace('sha256:', '')}.tar`;
}

/** Writes the entry to `file`; returns sha256:HEX of what was written. */
async function writeEntry(entry: TarEntry, file: string): Promise<string> {
  const hash = createHash('sha256');
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const piece of entry.body) {
      hash.update(piece);
      yield piece;
    }
  }
  await pipeline(Readable.from(hashed()), createWriteStream(file));
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Extracts the layers of `wanted` (diffIDs) found in the save stream into `dir` as <hex>.tar; returns the diffIDs
 * found with their files. Layers not in the stream are simply absent from the answer. Closes `save` when done.
 */
export async function extractLayers(
  save: Readable,
  wanted: ReadonlySet<string>,
  dir: string,
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  let scratch = 0;
  try {
    for await (const entry of readTar(save)) {
      if (entry.type !== '0') continue;
      const oci = OCI_BLOB.exec(entry.name);
      if (oci !== null) {
        const diffId = `sha256:${oci[1]!}`;
        if (!wanted.has(diffId) || found.has(diffId)) continue;
        const file = path.join(dir, fileNameOf(diffId));
        const actual = await writeEntry(entry, file);
        // A compressed blob (containerd image store) is named by its compressed digest: no diffID, no use.
        if (actual === diffId) found.set(diffId, file);
        else await unlink(file);
        continue;
      }
      if (CLASSIC_LAYER.test(entry.name)) {
        const temp = path.join(dir, `save-${scratch++}.partial`);
        const diffId = await writeEntry(entry, temp);
        if (wanted.has(diffId) && !found.has(diffId)) {
          const file = path.join(dir, fileNameOf(diffId));
          await rename(temp, file);
          found.set(diffId, file);
        } else {
          await unlink(temp);
        }
      }
    }
  } finally {
    // readTar stops at the end-of-archive blocks (or at a failure): whatever the engine still sends is not wanted,
    // and an answer left unread holds its connection to the engine open, and with it the process.
    save.destroy();
  }
  return found;
}

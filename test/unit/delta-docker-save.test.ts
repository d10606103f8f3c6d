// Reading layers out of `docker save` streams in both layouts, with constructed archives: the OCI layout of Engine
// 25+ (blobs/sha256/<diffID hex>, index.json) and the classic one (<id>/layer.tar, manifest.json last), pax long
// names, blobs that do not hash to their name, and layers not asked for (never written in the OCI layout).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { extractLayers, fileNameOf } from '../../supervisor/images/delta/docker-save.js';
import { readTar } from '../../supervisor/images/delta/tar-reader.js';
import { dockerArchive, tarHeader } from '../../supervisor/images/docker-archive.js';

function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function hex(digest: string): string {
  return digest.slice('sha256:'.length);
}

/** A pax extended header giving the next entry the path `name`, as GNU tar and Go's archive/tar write it. */
function paxHeaderFor(name: string): Buffer {
  const recordBody = ` path=${name}\n`;
  let length = recordBody.length + 1;
  while (`${length}${recordBody}`.length !== length) length = `${length}${recordBody}`.length;
  const record = Buffer.from(`${length}${recordBody}`);
  const header = tarHeader('PaxHeaders/x', record.length, 0);
  header[156] = 'x'.charCodeAt(0);
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  const pad = Buffer.alloc((512 - (record.length % 512)) % 512);
  return Buffer.concat([header, record, pad]);
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe('delta: layers out of docker save streams', () => {
  let dir: string;
  const base = randomBytes(300_000);
  const other = randomBytes(70_001);
  const baseId = digestOf(base);
  const otherId = digestOf(other);
  const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [baseId, otherId] } }));

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'skiff-delta-save-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes the wanted layer of an OCI-layout save and writes nothing else', async () => {
    const lying = randomBytes(1000);
    const lyingName = hex(digestOf(randomBytes(8)));
    const save = dockerArchive([
      { name: `blobs/sha256/${hex(otherId)}`, source: { bytes: other } },
      { name: `blobs/sha256/${hex(baseId)}`, source: { bytes: base } },
      { name: `blobs/sha256/${hex(digestOf(config))}`, source: { bytes: config } },
      // Named like a wanted layer, but its bytes are something else (a compressed blob, a corrupt export).
      { name: `blobs/sha256/${lyingName}`, source: { bytes: lying } },
      { name: 'index.json', source: { bytes: Buffer.from('{"schemaVersion":2,"manifests":[]}') } },
      { name: 'oci-layout', source: { bytes: Buffer.from('{"imageLayoutVersion":"1.0.0"}') } },
      { name: 'manifest.json', source: { bytes: Buffer.from('[]') } },
    ]);
    const found = await extractLayers(save, new Set([baseId, `sha256:${lyingName}`]), dir);
    assert.deepEqual([...found.keys()], [baseId]);
    assert.deepEqual(await readFile(found.get(baseId)!), base);
    assert.deepEqual(await readdir(dir), [fileNameOf(baseId)]);
  });

  it('finds layers of a classic save by hashing them, whatever their v1 id directory is called', async () => {
    const save = dockerArchive([
      { name: `${hex(digestOf(Buffer.from('a')))}/VERSION`, source: { bytes: Buffer.from('1.0') } },
      { name: `${hex(digestOf(Buffer.from('a')))}/layer.tar`, source: { bytes: base } },
      { name: `${hex(digestOf(Buffer.from('b')))}/layer.tar`, source: { bytes: other } },
      { name: `${hex(digestOf(config))}.json`, source: { bytes: config } },
      { name: 'manifest.json', source: { bytes: Buffer.from('[]') } },
    ]);
    const found = await extractLayers(save, new Set([otherId]), dir);
    assert.deepEqual([...found.keys()], [otherId]);
    assert.deepEqual(await readFile(found.get(otherId)!), other);
    assert.deepEqual(await readdir(dir), [fileNameOf(otherId)]);
  });

  it('reads pax long names and skips bodies left unread', async () => {
    const longName = `blobs/sha256/${'d'.repeat(40)}/${'e'.repeat(80)}`;
    const body = await collect(dockerArchive([{ name: 'short', source: { bytes: base } }]));
    const named = await collect(dockerArchive([{ name: 'placeholder', source: { bytes: other } }]));
    // header of `short` + its body, then a pax header and an entry that takes the long name, then the end blocks.
    const stream = Readable.from([body.subarray(0, body.length - 1024), paxHeaderFor(longName), named]);
    const seen: { name: string; size: number; bytes?: Buffer }[] = [];
    for await (const entry of readTar(stream)) {
      if (entry.name === longName) {
        const parts: Buffer[] = [];
        for await (const piece of entry.body) parts.push(piece);
        seen.push({ name: entry.name, size: entry.size, bytes: Buffer.concat(parts) });
      } else {
        seen.push({ name: entry.name, size: entry.size });
      }
    }
    assert.deepEqual(
      seen.map((e) => [e.name, e.size]),
      [
        ['short', base.length],
        [longName, other.length],
      ],
    );
    assert.deepEqual(seen[1]?.bytes, other);
  });

  it('rejects a stream that ends inside an entry, with the entry named', async () => {
    const whole = await collect(dockerArchive([{ name: `blobs/sha256/${hex(baseId)}`, source: { bytes: base } }]));
    const cut = Readable.from([whole.subarray(0, 512 + 1000)]);
    await assert.rejects(extractLayers(cut, new Set([baseId]), dir), /ended inside entry blobs\/sha256\//);
  });
});

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignatureError, signTarget } from '../../protocol/signature.js';
import type { TargetState } from '../../protocol/target-state.js';
import { ValidationError } from '../../protocol/validate.js';
import { acceptTarget } from '../../supervisor/target/gate.js';
import { TargetStore } from '../../supervisor/target/store.js';
import { fakeImage, serviceSpec, targetState, TEST_DEVICE_UUID } from '../../harness/supervisor-targets.js';

const img = fakeImage('a', 'a1');

function issuesOf(value: unknown, uuid = TEST_DEVICE_UUID): string[] {
  try {
    acceptTarget(value, uuid);
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

describe('target acceptance', () => {
  it('accepts a valid target for this device', () => {
    const t = targetState([serviceSpec('a', img), serviceSpec('b', img, { dependsOn: { a: 'service_healthy' } })]);
    assert.deepEqual(acceptTarget(JSON.parse(JSON.stringify(t)), TEST_DEVICE_UUID), t);
  });

  it('refuses what the schema refuses, with the path', () => {
    const t = targetState([serviceSpec('a', 'busybox:latest')]);
    assert.ok(issuesOf(t).some((i) => i.startsWith('/services/0/image')));
    assert.ok(issuesOf({ ...t, extra: 1 }).some((i) => i.includes("'extra'")));
  });

  it('refuses a target for another device', () => {
    assert.deepEqual(issuesOf(targetState([]), 'another-device'), [
      `/device/uuid: is for device ${TEST_DEVICE_UUID}, this is another-device`,
    ]);
  });

  it('refuses duplicate services, unknown dependencies and dependency cycles', () => {
    assert.deepEqual(issuesOf(targetState([serviceSpec('a', img), serviceSpec('a', img)])), [
      "/services/1/name: duplicate service 'a'",
    ]);
    assert.deepEqual(issuesOf(targetState([serviceSpec('a', img, { dependsOn: { db: 'service_started' } })])), [
      "/services/0/dependsOn/db: unknown service 'db'",
    ]);
    const cyclic = targetState([
      serviceSpec('a', img, { dependsOn: { b: 'service_started' } }),
      serviceSpec('b', img, { dependsOn: { c: 'service_started' } }),
      serviceSpec('c', img, { dependsOn: { a: 'service_healthy' } }),
    ]);
    assert.deepEqual(issuesOf(cyclic), ['/services: dependency cycle a -> b -> c -> a']);
  });

  it('refuses mounts and network modes it cannot run', () => {
    const t = targetState([
      serviceSpec('a', img, {
        networkMode: 'service:b',
        volumes: [
          { type: 'bind', target: '/x', readOnly: false },
          { type: 'tmpfs', source: 'y', target: '/y', readOnly: false },
        ],
      }),
    ]);
    assert.deepEqual(issuesOf(t).sort(), [
      "/services/0/networkMode: 'service:b' is not supported (only host, none, bridge or networks)",
      '/services/0/volumes/0/source: a bind mount needs a source',
      '/services/0/volumes/1/source: a tmpfs mount has no source',
    ]);
  });
});

describe('target store', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const signed = (target: TargetState) => ({ target, signature: signTarget(privateKey, target) });
  const dirs: string[] = [];
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(path.join(tmpdir(), 'skiff-store-'));
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('round-trips a target atomically and leaves no temporary file', async () => {
    const dir = await tempDir();
    const store = new TargetStore(dir, TEST_DEVICE_UUID);
    assert.equal(await store.load(publicKey), null);
    const t1 = signed(targetState([serviceSpec('a', img)], { releaseId: 'r1' }));
    const t2 = signed(targetState([serviceSpec('a', img)], { releaseId: 'r2' }));
    await store.save(t1);
    await store.save(t2);
    assert.deepEqual(await store.load(publicKey), t2);
    assert.deepEqual(await readdir(dir), ['target.json']);
    assert.equal(JSON.parse(await readFile(store.file, 'utf8')).target.release.id, 'r2');
  });

  it('refuses a torn or invalid file instead of returning something', async () => {
    const dir = await tempDir();
    const store = new TargetStore(dir, TEST_DEVICE_UUID);
    await writeFile(store.file, '{"schemaVersion": 1, "dev');
    await assert.rejects(store.load(publicKey), /is not JSON/);
    // Signed, so only the validation can refuse it.
    await store.save(signed({ ...targetState([]), schemaVersion: 2 } as unknown as TargetState));
    await assert.rejects(
      store.load(publicKey),
      (err: unknown) => err instanceof ValidationError && /schemaVersion/.test(err.message),
    );
  });

  it('refuses a file altered on disk, an unsigned one, and any file on a device without a key', async () => {
    const dir = await tempDir();
    const store = new TargetStore(dir, TEST_DEVICE_UUID);
    const t1 = signed(targetState([serviceSpec('a', img)], { releaseId: 'r1', env: { SITE: 'north' } }));
    await store.save(t1);
    const text = await readFile(store.file, 'utf8');
    await writeFile(store.file, text.replace('"north"', '"south"'));
    await assert.rejects(
      store.load(publicKey),
      (err: unknown) => err instanceof SignatureError && /does not match/.test(err.message),
    );
    // The format of before signing: the bare target.
    await writeFile(store.file, JSON.stringify(t1.target));
    await assert.rejects(
      store.load(publicKey),
      (err: unknown) => err instanceof SignatureError && /not signed/.test(err.message),
    );
    await store.save(t1);
    await assert.rejects(
      store.load(null),
      (err: unknown) => err instanceof SignatureError && /no apiSigningKey/.test(err.message),
    );
    assert.deepEqual(await store.load(publicKey), t1);
  });
});

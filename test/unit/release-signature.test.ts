import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { normalizeCompose } from '../../protocol/compose/normalize.js';
import {
  acceptKeySet,
  keyIdOf,
  keySetDocument,
  releaseSigningBytes,
  signKeySet,
  signRelease,
  trustedKeysOf,
  verifyRelease,
  verifyTargetRelease,
  type ReleaseContent,
} from '../../protocol/release-signature.js';
import { encodePublicKey, SignatureError } from '../../protocol/signature.js';
import type { TargetState } from '../../protocol/target-state.js';
import { signPush } from '../../cli/push/release-signing.js';
import { targetStateOf } from '../../registry-api/fleet/target-state.js';
import type { DeviceRecord, FleetRecord, ReleaseRecord } from '../../registry-api/store/index.js';
import { RELEASE_KEYS_FILE, ReleaseTrust } from '../../supervisor/target/release-signature.js';
import { fakeImage, serviceSpec, targetState } from '../../harness/supervisor-targets.js';
import { DEFAULT_DEVICE_CONFIG } from '../../protocol/target-state.js';

function keyPair(): { privateKey: KeyObject; publicKey: string } {
  const pair = generateKeyPairSync('ed25519');
  return { privateKey: pair.privateKey, publicKey: encodePublicKey(pair.publicKey) };
}

const developer = keyPair();
const stranger = keyPair();
const trusted = trustedKeysOf([developer.publicKey]);

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SignatureError, `not a SignatureError: ${String(err)}`);
    return err.message;
  }
  assert.fail('no refusal');
}

const COMPOSE = [
  'services:',
  '  meter:',
  `    image: ${fakeImage('meter', 'm1')}`,
  '    environment:',
  '      SITE: north',
  '    volumes: [data:/data]',
  'volumes:',
  '  data: {}',
  '',
].join('\n');

describe('release signing payload', () => {
  const content: ReleaseContent = {
    fleet: 'meters',
    services: [serviceSpec('meter', fakeImage('meter', 'm1'))],
    volumes: ['data'],
    networks: [],
  };

  it('covers fleet, version when given, services, volumes and networks, whatever the key order', () => {
    const bytes = releaseSigningBytes(content).toString('utf8');
    assert.ok(bytes.startsWith('{"fleet":"meters","networks":[],"services":[{'));
    assert.ok(bytes.endsWith(',"type":"skiff.release.v1","volumes":["data"]}'));
    assert.ok(!bytes.includes('"version"'), 'no version when the developer gave none');
    assert.match(releaseSigningBytes({ ...content, version: '1.0' }).toString('utf8'), /"version":"1\.0"/);
    const reordered = { networks: [], volumes: ['data'], services: content.services, fleet: 'meters' };
    assert.equal(releaseSigningBytes(reordered).toString('utf8'), bytes);
  });

  it('verifies only the content signed, by a trusted key', () => {
    const signature = signRelease(developer.privateKey, content);
    assert.equal(signature.keyId, keyIdOf(trusted.values().next().value as KeyObject));
    verifyRelease(trusted, content, signature);
    for (const changed of [
      { ...content, fleet: 'other' },
      { ...content, version: '2' },
      { ...content, volumes: [] },
      { ...content, networks: ['lan'] },
      { ...content, services: [serviceSpec('meter', fakeImage('meter', 'm2'))] },
      { ...content, services: [serviceSpec('meter', fakeImage('meter', 'm1'), { privileged: true })] },
      // A network's options are part of what was signed: a compromised API may not open an internal network.
      { ...content, networkDefinitions: { lan: { internal: false } } },
      { ...content, volumeDefinitions: { data: { external: true } } },
    ]) {
      assert.match(
        refusal(() => verifyRelease(trusted, changed, signature)),
        /does not match the content/,
      );
    }
    const withDefinitions: ReleaseContent = { ...content, networkDefinitions: { lan: { internal: true } } };
    const signedWith = signRelease(developer.privateKey, withDefinitions);
    verifyRelease(trusted, withDefinitions, signedWith);
    assert.match(
      refusal(() => verifyRelease(trusted, { ...withDefinitions, networkDefinitions: { lan: {} } }, signedWith)),
      /does not match the content/,
    );
    const foreign = signRelease(stranger.privateKey, content);
    assert.match(
      refusal(() => verifyRelease(trusted, content, foreign)),
      /not among the 1 trusted release key/,
    );
  });

  it('what the CLI signs at push is what the API stores and what the device finds in its target', () => {
    const images = {};
    const signature = signPush(developer.privateKey, { fleet: 'meters', compose: COMPOSE, images });
    // The API's side: the same normaliser on the same text makes the release, and the target is built from it.
    const normalized = normalizeCompose(COMPOSE, images);
    const release: ReleaseRecord = {
      id: 'r1',
      fleet: 'meters',
      version: '7',
      status: 'ready',
      compose: COMPOSE,
      services: JSON.parse(JSON.stringify(normalized.services)) as ReleaseRecord['services'],
      volumes: normalized.volumes,
      networks: normalized.networks,
      images: {},
      notes: null,
      createdAt: '2026-01-01T00:00:00.000Z',
      pushedBy: 'dev',
      verification: null,
      sources: {},
      contentHash: null,
      platforms: null,
      review: { approval: 'not-required', reasons: [], decidedBy: null, decidedAt: null, note: null },
      signature,
    };
    const fleet = { name: 'meters' } as FleetRecord;
    const device = { uuid: 'd1', name: 'd1' } as DeviceRecord;
    const target = targetStateOf(device, fleet, release, { ...DEFAULT_DEVICE_CONFIG, env: { SECRET: 'x' } });
    assert.deepEqual(target.release?.signature, signature);
    // Over the wire and back: config vars and the API-chosen version are outside the signature.
    verifyTargetRelease(trusted, JSON.parse(JSON.stringify(target)) as TargetState);

    const versioned = signPush(developer.privateKey, { fleet: 'meters', version: '7', compose: COMPOSE, images });
    const withVersion = { ...target, release: { id: 'r1', version: '7', signature: versioned } };
    verifyTargetRelease(trusted, withVersion);
    const relabelled = { ...withVersion, release: { ...withVersion.release, version: '8' } };
    assert.match(
      refusal(() => verifyTargetRelease(trusted, relabelled)),
      /does not match/,
    );
  });

  it('a target without a release must carry nothing to run', () => {
    const empty = { ...targetState([]), release: null };
    verifyTargetRelease(trusted, empty);
    const smuggled = { ...targetState([serviceSpec('meter', fakeImage('meter', 'm1'))]), release: null };
    assert.match(
      refusal(() => verifyTargetRelease(trusted, smuggled)),
      /names no release yet carries services/,
    );
    assert.match(
      refusal(() => verifyTargetRelease(trusted, targetState([]))),
      /not signed by a release key/,
    );
  });
});

describe('release key sets', () => {
  const second = keyPair();

  it('the first set is signed by one of its own keys; each next one by a key of the set before', () => {
    const first = signKeySet(developer.privateKey, keySetDocument('meters', 1, [developer.publicKey]));
    const keys1 = acceptKeySet({ fleet: 'meters', version: 0, trusted: null }, first);
    assert.deepEqual([...keys1.keys()], [...trusted.keys()]);
    const selfSignedStranger = signKeySet(stranger.privateKey, keySetDocument('meters', 1, [developer.publicKey]));
    assert.match(
      refusal(() => acceptKeySet({ fleet: 'meters', version: 0, trusted: null }, selfSignedStranger)),
      /not among the 1 trusted/,
    );

    const next = signKeySet(developer.privateKey, keySetDocument('meters', 2, [developer.publicKey, second.publicKey]));
    const keys2 = acceptKeySet({ fleet: 'meters', version: 1, trusted: keys1 }, next);
    assert.equal(keys2.size, 2);
    // Signed by the new key alone: not trusted yet.
    const bySecond = signKeySet(second.privateKey, keySetDocument('meters', 2, [second.publicKey]));
    assert.match(
      refusal(() => acceptKeySet({ fleet: 'meters', version: 1, trusted: keys1 }, bySecond)),
      /not among/,
    );
  });

  it('refuses an older or equal version, another fleet, and a document changed after signing', () => {
    const set = signKeySet(developer.privateKey, keySetDocument('meters', 2, [developer.publicKey]));
    assert.match(
      refusal(() => acceptKeySet({ fleet: 'meters', version: 2, trusted }, set)),
      /version 2 is not above the version 2/,
    );
    assert.match(
      refusal(() => acceptKeySet({ fleet: 'other', version: 1, trusted }, set)),
      /for fleet 'meters'/,
    );
    const widened = { ...set, document: { ...set.document, keys: [developer.publicKey, stranger.publicKey] } };
    assert.match(
      refusal(() => acceptKeySet({ fleet: 'meters', version: 1, trusted }, widened)),
      /does not match/,
    );
    // A release signature is never taken for a key set's, nor the other way round.
    const asRelease = {
      document: set.document,
      signature: signRelease(developer.privateKey, { fleet: 'meters', services: [], volumes: [], networks: [] }),
    };
    assert.match(
      refusal(() => acceptKeySet({ fleet: 'meters', version: 1, trusted }, asRelease)),
      /does not match/,
    );
  });
});

describe('device release trust', () => {
  let dataDir: string;
  const errors: string[] = [];
  const onError = (err: unknown, doing: string): void => void errors.push(`${doing}: ${String(err)}`);
  const second = keyPair();

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'skiff-release-trust-'));
    errors.length = 0;
  });
  afterEach(async () => rm(dataDir, { recursive: true, force: true }));

  function signedTarget(key: KeyObject, extra: Partial<TargetState> = {}): TargetState {
    const target = { ...targetState([serviceSpec('meter', fakeImage('meter', 'm1'))]), ...extra };
    const content = {
      fleet: target.fleet.name,
      services: target.services,
      volumes: target.volumes,
      networks: target.networks,
    };
    return { ...target, release: { id: 'r1', version: 'r1', signature: signRelease(key, content) } };
  }

  it('without pinned keys there is no trust to check: unsigned releases run', async () => {
    assert.equal(await ReleaseTrust.load(dataDir, undefined, onError), null);
    assert.equal(await ReleaseTrust.load(dataDir, [], onError), null);
  });

  it('takes a newer key set signed by a trusted key, keeps it across restarts, ignores older ones', async () => {
    const trust = await ReleaseTrust.load(dataDir, [developer.publicKey], onError);
    assert.ok(trust);
    assert.match(
      refusal(() => trust.check(signedTarget(second.privateKey), 'target')),
      /not among the 1 trusted/,
    );

    const set2 = signKeySet(developer.privateKey, keySetDocument('meters', 2, [second.publicKey]));
    trust.check(signedTarget(second.privateKey, { releaseKeys: set2 }), 'target');
    assert.equal(trust.version(), 2);
    await trust.saved();
    assert.deepEqual(JSON.parse(await readFile(path.join(dataDir, RELEASE_KEYS_FILE), 'utf8')), set2);
    // The set replaced the pinned key: the developer's key was removed from it.
    assert.match(
      refusal(() => trust.check(signedTarget(developer.privateKey), 'target')),
      /not among/,
    );

    const restarted = await ReleaseTrust.load(dataDir, [developer.publicKey], onError);
    assert.equal(restarted?.version(), 2);
    // A replayed older set (which trusted the removed key) is ignored, not taken.
    const set1 = signKeySet(developer.privateKey, keySetDocument('meters', 1, [developer.publicKey]));
    assert.match(
      refusal(() => restarted?.check(signedTarget(developer.privateKey, { releaseKeys: set1 }), 'target')),
      /not among/,
    );
    assert.deepEqual(errors, []);
  });

  it('refuses a key set no trusted key signed, and falls back to the pinned keys if the kept set is damaged', async () => {
    const trust = await ReleaseTrust.load(dataDir, [developer.publicKey], onError);
    const rogue = signKeySet(stranger.privateKey, keySetDocument('meters', 5, [stranger.publicKey]));
    assert.match(
      refusal(() => trust?.check(signedTarget(stranger.privateKey, { releaseKeys: rogue }), 'target')),
      /^release key set version 5 in target: signature invalid: it is signed by release key/,
    );
    assert.equal(trust?.version(), 0);

    await writeFile(path.join(dataDir, RELEASE_KEYS_FILE), '{"document": 1}');
    const damaged = await ReleaseTrust.load(dataDir, [developer.publicKey], onError);
    assert.equal(damaged?.version(), 0);
    damaged?.check(signedTarget(developer.privateKey), 'target');
    assert.equal(errors.length, 1);
    assert.match(errors[0] ?? '', /accepted release key set refused; trusting the pinned release keys only/);
  });
});

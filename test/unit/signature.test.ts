import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { canonicalJson } from '../../protocol/canonical-json.js';
import {
  decodePublicKey,
  encodePublicKey,
  SignatureError,
  signTarget,
  verifyTarget,
} from '../../protocol/signature.js';
import type { TargetState } from '../../protocol/target-state.js';
import { acceptSignedTarget } from '../../supervisor/target/gate.js';
import { fakeImage, serviceSpec, targetState, TEST_DEVICE_UUID } from '../../harness/supervisor-targets.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const target = targetState(
  [serviceSpec('meter', fakeImage('meter', 'm1'), { environment: { PORT: '/dev/ttyUSB0' } })],
  {
    releaseId: 'r1',
    env: { SITE: 'north' },
  },
);

/** A deep copy as it arrives over the wire. */
const copy = (value: unknown): TargetState => JSON.parse(JSON.stringify(value)) as TargetState;

function refusal(fn: () => unknown): SignatureError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SignatureError, String(err));
    return err;
  }
  assert.fail('expected a SignatureError');
}

describe('canonical JSON', () => {
  it('does not depend on key order, at any depth', () => {
    const a = { b: 1, a: { y: [2, { q: 1, p: 2 }], x: 'x' } };
    const b = { a: { x: 'x', y: [2, { p: 2, q: 1 }] }, b: 1 };
    assert.equal(canonicalJson(a), canonicalJson(b));
    assert.equal(canonicalJson(a), '{"a":{"x":"x","y":[2,{"p":2,"q":1}]},"b":1}');
  });

  it('keeps array order and a member named __proto__', () => {
    assert.notEqual(canonicalJson([1, 2]), canonicalJson([2, 1]));
    assert.equal(canonicalJson(JSON.parse('{"b":1,"__proto__":{"x":1}}')), '{"__proto__":{"x":1},"b":1}');
  });
});

describe('target signatures', () => {
  it('verifies what was signed, as it arrives over the wire', () => {
    const signature = signTarget(privateKey, target);
    assert.match(signature, /^ed25519=[A-Za-z0-9+/]{86}==$/);
    verifyTarget(publicKey, copy(target), signature);
  });

  it('does not depend on the order of keys in the target', () => {
    const signature = signTarget(privateKey, target);
    const reordered = Object.fromEntries(Object.entries(copy(target)).reverse());
    assert.notEqual(JSON.stringify(reordered), JSON.stringify(target));
    verifyTarget(publicKey, reordered, signature);
  });

  it('fails when any field was altered', () => {
    const signature = signTarget(privateKey, target);
    const altered = copy(target);
    altered.config.env.SITE = 'south';
    assert.match(refusal(() => verifyTarget(publicKey, altered, signature)).message, /does not match/);
    const added = { ...copy(target), extra: true };
    assert.match(refusal(() => verifyTarget(publicKey, added, signature)).message, /does not match/);
  });

  it('fails with another key', () => {
    const other = generateKeyPairSync('ed25519');
    const signature = signTarget(other.privateKey, target);
    assert.match(refusal(() => verifyTarget(publicKey, copy(target), signature)).message, /does not match/);
  });

  it('fails when missing or malformed, saying how', () => {
    assert.match(refusal(() => verifyTarget(publicKey, target, null)).message, /not signed/);
    assert.match(refusal(() => verifyTarget(publicKey, target, '')).message, /not signed/);
    assert.match(refusal(() => verifyTarget(publicKey, target, 'ed25519 abc')).message, /not of the form/);
    const [, encoded] = signTarget(privateKey, target).split('=', 2);
    assert.match(refusal(() => verifyTarget(publicKey, target, `rsa=${encoded ?? ''}`)).message, /scheme 'rsa'/);
    assert.match(refusal(() => verifyTarget(publicKey, target, 'ed25519=AAAA')).message, /3 bytes/);
  });

  it('names what was refused', () => {
    const err = refusal(() => verifyTarget(publicKey, target, null, 'target state from the API'));
    assert.match(err.message, /^target state from the API: signature invalid: /);
  });
});

describe('public key wire form', () => {
  it('round-trips as base64 SPKI DER', () => {
    const text = encodePublicKey(publicKey);
    assert.equal(Buffer.from(text, 'base64').length, 44);
    verifyTarget(decodePublicKey(text), target, signTarget(privateKey, target));
  });

  it('refuses what is not an Ed25519 public key', () => {
    assert.throws(() => decodePublicKey('not base64!'), /not base64/);
    assert.throws(() => decodePublicKey(Buffer.from('garbage').toString('base64')), /not a DER SPKI public key/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ format: 'der', type: 'spki' })
      .toString('base64');
    assert.throws(() => decodePublicKey(ec, 'apiSigningKey'), /apiSigningKey is a ec key, not Ed25519/);
  });
});

describe('the device gate for signed targets', () => {
  it('checks the signature before the content', () => {
    // Invalid content and no signature: the signature is what is reported.
    assert.match(
      refusal(() => acceptSignedTarget({ nonsense: true }, null, publicKey, TEST_DEVICE_UUID)).message,
      /not signed/,
    );
  });

  it('accepts a signed valid target for this device', () => {
    const signature = signTarget(privateKey, target);
    assert.deepEqual(acceptSignedTarget(copy(target), signature, publicKey, TEST_DEVICE_UUID), { target, signature });
  });

  it('refuses every target on a device without a key', () => {
    const err = refusal(() => acceptSignedTarget(copy(target), signTarget(privateKey, target), null, TEST_DEVICE_UUID));
    assert.match(err.message, /no apiSigningKey/);
  });
});

// The keys a device checks targets against while the API rotates its key: the pinned one, and the announced next
// one; nothing else.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { SignatureError, signTarget } from '../../protocol/signature.js';
import { acceptSignedTarget, signedWith } from '../../supervisor/target/gate.js';
import { targetState, TEST_DEVICE_UUID } from '../../harness/supervisor-targets.js';

const pair = () => generateKeyPairSync('ed25519');

describe('target key ring', () => {
  const current = pair();
  const next = pair();
  const stranger = pair();
  const target = targetState([]);
  const wire = (): unknown => JSON.parse(JSON.stringify(target));

  it('takes targets signed with the current key, or the announced next one', () => {
    const ring = { current: current.publicKey, next: next.publicKey };
    const byCurrent = acceptSignedTarget(wire(), signTarget(current.privateKey, target), ring, TEST_DEVICE_UUID);
    assert.ok(signedWith(current.publicKey, byCurrent));
    const byNext = acceptSignedTarget(wire(), signTarget(next.privateKey, target), ring, TEST_DEVICE_UUID);
    assert.ok(signedWith(next.publicKey, byNext));
    assert.ok(!signedWith(current.publicKey, byNext));
  });

  it("refuses another key's signature with the current key's reason", () => {
    const ring = { current: current.publicKey, next: next.publicKey };
    assert.throws(
      () => acceptSignedTarget(wire(), signTarget(stranger.privateKey, target), ring, TEST_DEVICE_UUID),
      (err: unknown) => err instanceof SignatureError && /does not match/.test(err.message),
    );
  });

  it('without a next key, only the current one counts', () => {
    const ring = { current: current.publicKey, next: null };
    assert.throws(
      () => acceptSignedTarget(wire(), signTarget(next.privateKey, target), ring, TEST_DEVICE_UUID),
      SignatureError,
    );
  });
});

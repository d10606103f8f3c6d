// The pieces of dashboard logins that need no server: failed attempts counted per user and per address in fixed
// windows, and passwords kept as scrypt strings that verify only the password they were made from.
import assert from 'node:assert/strict';
import { LoginLimits } from '../../registry-api/web/login-limits.js';
import { hashPassword, verifyPassword } from '../../registry-api/web/passwords.js';

describe('dashboard login limits', () => {
  const rules = { user: { max: 3, windowMs: 60_000 }, address: { max: 5, windowMs: 60_000 } };

  it("blocks a user after the window's failures until the window ends, from any address", () => {
    const limits = new LoginLimits(rules);
    for (let i = 0; i < 3; i++) {
      assert.equal(limits.blockedFor('dora', `10.0.0.${i}`, 1000), 0);
      limits.failed('dora', `10.0.0.${i}`, 1000 + i);
    }
    assert.equal(limits.blockedFor('dora', '10.9.9.9', 2000), 59_000);
    assert.equal(limits.blockedFor('vera', '10.9.9.9', 2000), 0, 'another user is not blocked');
    assert.equal(limits.blockedFor('dora', '10.9.9.9', 61_000), 0, 'the window ended');
  });

  it('blocks an address after its failures whatever user names it tries', () => {
    const limits = new LoginLimits(rules);
    for (let i = 0; i < 5; i++) limits.failed(`user-${i}`, '192.0.2.7', 1000);
    assert.ok(limits.blockedFor('admin', '192.0.2.7', 1500) > 0);
    assert.equal(limits.blockedFor('admin', '192.0.2.8', 1500), 0);
  });

  it("a success clears the user's count but not the address's", () => {
    const limits = new LoginLimits(rules);
    for (let i = 0; i < 2; i++) limits.failed('dora', '192.0.2.1', 1000);
    limits.succeeded('dora');
    for (let i = 0; i < 2; i++) limits.failed('dora', '192.0.2.1', 1000);
    assert.equal(limits.blockedFor('dora', '192.0.2.2', 1000), 0, 'two failures since the success');
    limits.failed('dora', '192.0.2.1', 1000);
    assert.ok(limits.blockedFor('dora', '192.0.2.2', 1000) > 0);
    assert.ok(limits.blockedFor('other', '192.0.2.1', 1000) > 0, 'the address counted all five');
  });
});

describe('dashboard passwords', function () {
  // Each hash holds 128 MiB for a few hundred milliseconds of a core; a loaded machine takes longer.
  this.timeout(60_000);

  it('verifies the password a hash was made from and nothing else; two hashes of one password differ', async () => {
    const first = await hashPassword('correct horse battery staple');
    const second = await hashPassword('correct horse battery staple');
    assert.match(first, /^scrypt\$17\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.notEqual(first, second, 'each hash has its own salt');
    assert.equal(await verifyPassword('correct horse battery staple', first), true);
    assert.equal(await verifyPassword('correct horse battery stapl', first), false);
  });

  it('refuses a stored hash it cannot read rather than treating it as a mismatch', async () => {
    await assert.rejects(verifyPassword('x', 'sha256$abc'), /scrypt\$logN\$r\$p\$salt\$key/);
  });
});

// The registry token server's pure parts: scope parsing, what each caller is granted, and the ES256 JWT the
// registry verifies (checked here with node:crypto's own verifier, independent of the signer's code path).
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { es256Signer, libtrustKeyId } from '../../registry-api/keys/jwt.js';
import {
  fleetOfRepository,
  grant,
  issueToken,
  parseScope,
  type RegistryPrincipal,
} from '../../registry-api/delivery/registry-token.js';

const user = (role: 'viewer' | 'developer' | 'operator' | 'admin'): RegistryPrincipal => ({
  kind: 'user',
  user: { name: role, role },
});
const device: RegistryPrincipal = { kind: 'device', uuid: 'dev-1', fleet: 'meters' };
const scope = (name: string, actions = ['pull', 'push']) => ({ type: 'repository', name, actions });

describe('registry token: scopes and grants', () => {
  it('parses scopes, names with a host and port included', () => {
    assert.deepEqual(parseScope('repository:meters/reader:pull,push'), scope('meters/reader'));
    assert.deepEqual(
      parseScope('repository:127.0.0.1:5000/meters/reader:pull'),
      scope('127.0.0.1:5000/meters/reader', ['pull']),
    );
    for (const bad of [
      '',
      'repository',
      'repository:meters',
      ':meters:pull',
      'repository::pull',
      'repository:meters:',
    ]) {
      assert.equal(parseScope(bad), null, bad);
    }
  });

  it('takes the fleet from the first path component', () => {
    assert.equal(fleetOfRepository('meters/reader'), 'meters');
    assert.equal(fleetOfRepository('reader'), null);
    assert.equal(fleetOfRepository('/reader'), null);
  });

  it('grants developers and admins push and pull, operators and viewers pull', () => {
    for (const role of ['developer', 'admin'] as const) {
      assert.deepEqual(grant(user(role), [scope('any/app')]), [scope('any/app', ['pull', 'push'])], role);
    }
    for (const role of ['operator', 'viewer'] as const) {
      assert.deepEqual(grant(user(role), [scope('any/app')]), [scope('any/app', ['pull'])], role);
    }
  });

  it("follows a user's role on the repository's fleet: a grant there, else the global role", () => {
    const alice: RegistryPrincipal = {
      kind: 'user',
      user: { name: 'alice', role: null, fleetRoles: { alpha: 'developer', beta: 'viewer' } },
    };
    assert.deepEqual(
      grant(alice, [scope('alpha/reader'), scope('beta/reader'), scope('gamma/reader'), scope('reader')]),
      [
        scope('alpha/reader', ['pull', 'push']),
        scope('beta/reader', ['pull']),
        scope('gamma/reader', []),
        scope('reader', []),
      ],
    );
    const gus: RegistryPrincipal = {
      kind: 'user',
      user: { name: 'gus', role: 'developer', fleetRoles: { beta: 'viewer' } },
    };
    assert.deepEqual(grant(gus, [scope('alpha/reader'), scope('beta/reader')]), [
      scope('alpha/reader', ['pull', 'push']),
      scope('beta/reader', ['pull']),
    ]);
  });

  it("grants a device pull on its own fleet's repositories only", () => {
    assert.deepEqual(
      grant(device, [scope('meters/reader'), scope('other/reader'), scope('meters-2/reader'), scope('reader')]),
      [scope('meters/reader', ['pull']), scope('other/reader', []), scope('meters-2/reader', []), scope('reader', [])],
    );
  });

  it('grants only what was asked for, and nothing outside repositories', () => {
    assert.deepEqual(grant(user('admin'), [scope('a/b', ['pull'])]), [scope('a/b', ['pull'])]);
    assert.deepEqual(grant(user('admin'), [scope('a/b', ['*'])]), [scope('a/b', ['pull', 'push'])]);
    assert.deepEqual(grant(user('admin'), [{ type: 'registry', name: 'catalog', actions: ['*'] }]), [
      { type: 'registry', name: 'catalog', actions: [] },
    ]);
  });
});

describe('registry token: ES256 JWT', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const signer = es256Signer(privateKey, 'the test key');

  it('signs a JWT the public key verifies, with the libtrust key id', () => {
    const issuer = { service: 'skiff-registry', issuer: 'skiff-registry-api', ttlSeconds: 300, signer };
    const now = new Date('2026-03-01T12:00:00Z');
    const { token, access_token, expires_in } = issueToken(
      issuer,
      'dora',
      [{ type: 'repository', name: 'a/b', actions: ['pull'] }],
      now,
    );
    assert.equal(access_token, token);
    assert.equal(expires_in, 300);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const headerJson = JSON.parse(Buffer.from(header, 'base64url').toString()) as Record<string, unknown>;
    assert.deepEqual(headerJson, { typ: 'JWT', alg: 'ES256', kid: signer.keyId });
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(claims.iss, 'skiff-registry-api');
    assert.equal(claims.aud, 'skiff-registry');
    assert.equal(claims.sub, 'dora');
    assert.equal(claims.exp, Date.parse('2026-03-01T12:05:00Z') / 1000);
    assert.deepEqual(claims.access, [scope('a/b', ['pull'])]);
    const raw = Buffer.from(signature, 'base64url');
    assert.equal(raw.length, 64, 'r||s, not DER');
    assert.ok(
      verify(
        'sha256',
        Buffer.from(`${header}.${payload}`),
        { key: createPublicKey(privateKey), dsaEncoding: 'ieee-p1363' },
        raw,
      ),
    );
    assert.ok(
      !verify(
        'sha256',
        Buffer.from(`${header}.${payload}x`),
        { key: createPublicKey(privateKey), dsaEncoding: 'ieee-p1363' },
        raw,
      ),
    );
  });

  it('derives the key id as libtrust does: 12 groups of 4 base32 characters', () => {
    assert.match(libtrustKeyId(createPublicKey(privateKey)), /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
  });

  it('refuses keys that cannot sign ES256, saying which', () => {
    assert.throws(
      () => es256Signer(generateKeyPairSync('ed25519').privateKey, 'key.pem'),
      /key\.pem is a ed25519 key; ES256 needs an EC P-256/,
    );
    assert.throws(
      () => es256Signer(generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey, 'key.pem'),
      /secp384r1/,
    );
  });
});

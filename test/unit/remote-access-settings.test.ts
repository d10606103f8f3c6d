// registry-api's remote-access settings from its environment, and the OpenSSH keys devices and the CLI make.
import assert from 'node:assert/strict';
import { newOpenSshKeyPair, publicKeyOf } from '../../lib/openssh-key.js';
import { Ed25519PublicKeySchema } from '../../protocol/http/remote-access.js';
import { check } from '../../protocol/validate.js';
import {
  DEFAULT_TUNNEL_PORTS,
  parsePortRange,
  RemoteAccessConfigError,
  remoteAccessFromEnv,
} from '../../registry-api/remote-access/settings.js';

const HOST_KEY = `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${'B'.repeat(43)} root@jump`;
const BASE = {
  SKIFF_JUMP_HOST: 'jump.example.net:2222',
  SKIFF_JUMP_HOST_KEY: HOST_KEY,
  SKIFF_JUMP_HOST_TOKEN: 'a-long-random-jump-host-token',
};

describe('remote access settings', () => {
  it('are off without SKIFF_JUMP_HOST', () => {
    assert.equal(remoteAccessFromEnv({}, '/data'), null);
  });

  it('take the jump host, its key without comment, and defaults for the rest', () => {
    const settings = remoteAccessFromEnv(BASE, '/data');
    assert.deepEqual(settings, {
      jumpHost: { host: 'jump.example.net', port: 2222, user: 'skiff', hostKey: HOST_KEY.replace(/ root@jump$/, '') },
      ports: DEFAULT_TUNNEL_PORTS,
      jumpHostToken: BASE.SKIFF_JUMP_HOST_TOKEN,
      caKeyFile: '/data/ssh-ca-key',
      certificateMinutes: 5,
    });
    assert.equal(remoteAccessFromEnv({ ...BASE, SKIFF_JUMP_HOST: '10.0.0.1' }, '/data')?.jumpHost.port, 22);
    assert.deepEqual(remoteAccessFromEnv({ ...BASE, SKIFF_TUNNEL_PORTS: '30000-30009' }, '/d')?.ports, {
      from: 30000,
      to: 30009,
    });
  });

  it('refuse what would fail later, naming the variable', () => {
    const refused: [Record<string, string>, RegExp][] = [
      [{ SKIFF_JUMP_HOST: 'jump host' }, /SKIFF_JUMP_HOST/],
      [{ SKIFF_JUMP_HOST: 'jump:99999' }, /SKIFF_JUMP_HOST/],
      [{ SKIFF_JUMP_HOST_KEY: 'not a key' }, /SKIFF_JUMP_HOST_KEY/],
      [{ SKIFF_JUMP_HOST_TOKEN: 'short' }, /SKIFF_JUMP_HOST_TOKEN/],
      [{ SKIFF_JUMP_USER: 'Root;rm' }, /SKIFF_JUMP_USER/],
      [{ SKIFF_SSH_CERT_MINUTES: '0' }, /SKIFF_SSH_CERT_MINUTES/],
      [{ SKIFF_SSH_CERT_MINUTES: '61' }, /SKIFF_SSH_CERT_MINUTES/],
      [{ SKIFF_TUNNEL_PORTS: '30000' }, /SKIFF_TUNNEL_PORTS/],
    ];
    for (const [change, message] of refused) {
      assert.throws(
        () => remoteAccessFromEnv({ ...BASE, ...change }, '/data'),
        (err: unknown) => err instanceof RemoteAccessConfigError && message.test(err.message),
        JSON.stringify(change),
      );
    }
    for (const range of ['29999-20000', '80-90', '20000-70000', '-', 'a-b']) {
      assert.throws(() => parsePortRange(range), RemoteAccessConfigError, range);
    }
  });
});

describe('OpenSSH keys', () => {
  it('make Ed25519 key pairs the API takes, in the private key format ssh reads', () => {
    const pair = newOpenSshKeyPair('skiff test');
    assert.deepEqual(check(Ed25519PublicKeySchema, pair.publicKey), []);
    assert.match(
      pair.privateKey,
      /^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END OPENSSH PRIVATE KEY-----\n$/,
    );
    const body = Buffer.from(pair.privateKey.split('\n').slice(1, -2).join(''), 'base64');
    assert.equal(body.subarray(0, 15).toString('latin1'), 'openssh-key-v1\0');
    assert.notEqual(newOpenSshKeyPair('again').publicKey, pair.publicKey);
  });

  it('find the key in an authorized_keys or .pub line', () => {
    const key = `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${'C'.repeat(43)}`;
    assert.equal(publicKeyOf(`${key} me@host`), key);
    assert.equal(publicKeyOf(`restrict,port-forwarding ${key}`), key);
    assert.equal(publicKeyOf('nothing here'), null);
  });
});

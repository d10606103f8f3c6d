// When a device's config lets it go online: a pinned API key, and https (or http to this machine, or an explicit
// allowance for a lab network).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { encodePublicKey } from '../../protocol/signature.js';
import { onlineRefusal, type SupervisorConfig } from '../../supervisor/config.js';

const KEY = encodePublicKey(generateKeyPairSync('ed25519').publicKey);
const FILE = '/var/lib/skiff/config.json';

function config(extra: Partial<SupervisorConfig>): SupervisorConfig {
  return { apiUrl: 'https://skiff.example.com', deviceType: 'raspberrypi4-64', apiSigningKey: KEY, ...extra };
}

describe('supervisor config: going online', () => {
  it('goes online over https with a pinned key', () => {
    assert.equal(onlineRefusal(config({}), FILE), null);
  });

  it('refuses without a pinned key and says where to read it', () => {
    const { apiSigningKey: _none, ...unpinned } = config({});
    const refusal = onlineRefusal(unpinned, FILE) ?? '';
    assert.match(refusal, /pins no apiSigningKey/);
    assert.match(refusal, /https:\/\/skiff\.example\.com\/v1\/info \(field signingKey\)/);
  });

  it('takes plain http to loopback only, unless allowInsecureHttp is set', () => {
    for (const apiUrl of ['http://127.0.0.1:4810', 'http://localhost:4810', 'http://[::1]:4810']) {
      assert.equal(onlineRefusal(config({ apiUrl }), FILE), null, apiUrl);
    }
    for (const apiUrl of ['http://192.168.1.20:4810', 'http://skiff.lan', 'http://127.0.0.1.evil.example']) {
      assert.match(onlineRefusal(config({ apiUrl }), FILE) ?? '', /plain http to another machine/, apiUrl);
    }
    assert.equal(onlineRefusal(config({ apiUrl: 'http://192.168.1.20:4810', allowInsecureHttp: true }), FILE), null);
  });

  it('refuses other schemes and what is not a URL', () => {
    assert.match(onlineRefusal(config({ apiUrl: 'ftp://skiff.example.com' }), FILE) ?? '', /must be https/);
    assert.match(onlineRefusal(config({ apiUrl: 'not a url' }), FILE) ?? '', /is not a URL/);
  });
});

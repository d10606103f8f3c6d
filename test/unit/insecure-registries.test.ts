import assert from 'node:assert/strict';
import {
  isLoopbackRegistry,
  parseInsecureRegistries,
  registryScheme,
  tlsFailureOf,
} from '../../lib/insecure-registries.js';
import { insecureRegistriesOf } from '../../supervisor/config.js';
import { ManifestCache } from '../../lib/registry/manifest-cache.js';
import { RegistryClient } from '../../lib/registry/client.js';

describe('SKIFF_INSECURE_REGISTRIES', () => {
  it('is empty when unset or blank: loopback only, as before', () => {
    assert.deepEqual(insecureRegistriesOf({}), []);
    assert.deepEqual(insecureRegistriesOf({ SKIFF_INSECURE_REGISTRIES: '' }), []);
    assert.deepEqual(insecureRegistriesOf({ SKIFF_INSECURE_REGISTRIES: ' , ,' }), []);
  });

  it('takes host:port, host, IPv4 and bracketed IPv6 entries, trimmed, lowercased, without repeats', () => {
    assert.deepEqual(
      insecureRegistriesOf({
        SKIFF_INSECURE_REGISTRIES: ' 192.168.1.20:5000,Registry.LAN , registry.lan,[fd00::5]:5000,build-host:443,',
      }),
      ['192.168.1.20:5000', 'registry.lan', '[fd00::5]:5000', 'build-host:443'],
    );
  });

  const bad: Array<[string, RegExp]> = [
    ['http://192.168.1.20:5000', /entry 1 'http:\/\/192\.168\.1\.20:5000' has a scheme/],
    ['ok:5000,10.0.0.0/8', /entry 2 '10\.0\.0\.0\/8' is a network/],
    ['registry.lan:5000/v2', /entry 1 'registry\.lan:5000\/v2' has a path/],
    ['registry.lan:0', /entry 1 'registry\.lan:0' has port '0', not 1-65535/],
    ['registry.lan:70000', /has port '70000', not 1-65535/],
    ['registry.lan:', /has port '', not 1-65535/],
    ['fd00::5:5000', /entry 1 'fd00::5:5000' is not host\[:port\] \(write an IPv6 address in brackets/],
    ['300.1.1.1:5000', /entry 1 '300\.1\.1\.1:5000' has '300\.1\.1\.1', which is not a host name or IP address/],
    ['reg_istry:5000', /has 'reg_istry', which is not a host name/],
    ['[zz]:5000', /has '\[zz\]', which is not a host name/],
  ];
  for (const [raw, expected] of bad) {
    it(`refuses '${raw}', naming the entry and what is wrong`, () => {
      assert.throws(
        () => insecureRegistriesOf({ SKIFF_INSECURE_REGISTRIES: raw }),
        (err: Error) => {
          assert.match(err.message, /^SKIFF_INSECURE_REGISTRIES: /);
          assert.match(err.message, expected);
          return true;
        },
      );
    });
  }

  it('names the setting it parses', () => {
    assert.throws(() => parseInsecureRegistries('a b', 'OTHER_SETTING'), /^Error: OTHER_SETTING: entry 1 'a b'/);
  });
});

describe('registry scheme', () => {
  it('treats localhost, 127.0.0.0/8 and ::1 as loopback, with or without a port, and nothing that only looks like it', () => {
    for (const r of [
      'localhost',
      'localhost:5000',
      'LOCALHOST:5000',
      '127.0.0.1:5000',
      '127.8.9.10',
      '[::1]:5000',
      '[::1]',
    ]) {
      assert.equal(isLoopbackRegistry(r), true, r);
    }
    for (const r of [
      '127.example.com:5000',
      '127.0.0.1.nip.io',
      '10.0.0.1:5000',
      'localhost.lan:5000',
      '[::2]:5000',
      'registry.lan',
    ]) {
      assert.equal(isLoopbackRegistry(r), false, r);
    }
  });

  it('speaks plain HTTP to loopback and listed registries only, matching host:port exactly', () => {
    const listed = parseInsecureRegistries('192.168.1.20:5000,registry.lan', 'SKIFF_INSECURE_REGISTRIES');
    assert.equal(registryScheme('127.0.0.1:47100', []), 'http');
    assert.equal(registryScheme('192.168.1.20:5000', listed), 'http');
    assert.equal(registryScheme('Registry.LAN', listed), 'http');
    assert.equal(registryScheme('192.168.1.20:5001', listed), 'https');
    assert.equal(registryScheme('registry.lan:5000', listed), 'https');
    assert.equal(registryScheme('192.168.1.20:5000', []), 'https');
    assert.equal(
      registryScheme('registry.lan:5000', ['Registry.LAN:5000']),
      'http',
      'a list not lowercased by its reader still matches',
    );
  });

  it("the device's registry client builds its URLs by the same rule", () => {
    const client = new RegistryClient({
      insecureRegistries: insecureRegistriesOf({ SKIFF_INSECURE_REGISTRIES: '192.168.1.20:5000' }),
    });
    assert.equal(client.baseUrl('192.168.1.20:5000'), 'http://192.168.1.20:5000/v2');
    assert.equal(client.baseUrl('192.168.1.21:5000'), 'https://192.168.1.21:5000/v2');
    assert.equal(client.baseUrl('[::1]:5000'), 'http://[::1]:5000/v2');
    assert.equal(new RegistryClient().baseUrl('192.168.1.20:5000'), 'https://192.168.1.20:5000/v2');
  });
});

describe('TLS failure explanation', () => {
  // The shapes Node gives (measured on Node 20): node:https rejects with the socket error, fetch wraps it in `cause`.
  function socketError(message: string, code: string): Error {
    return Object.assign(new Error(message), { code });
  }
  const wrongVersion =
    'write EPROTO 805CACBCA67F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:';

  it('says a plain-HTTP registry answered and names the setting', () => {
    const fromHttps = tlsFailureOf(socketError(wrongVersion, 'EPROTO'), '10.0.0.5:5000');
    assert.equal(
      fromHttps,
      'TLS handshake with registry 10.0.0.5:5000 failed (wrong version number): it seems to speak plain HTTP; if it is meant to, list it in SKIFF_INSECURE_REGISTRIES',
    );
    const fromFetch = tlsFailureOf(
      new TypeError('fetch failed', { cause: socketError(wrongVersion.slice(13), 'ERR_SSL_WRONG_VERSION_NUMBER') }),
      '10.0.0.5:5000',
    );
    assert.equal(fromFetch, fromHttps);
  });

  it('tells an untrusted certificate apart, and leaves other failures alone', () => {
    assert.match(
      tlsFailureOf(socketError('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'), 'r:5000') ?? '',
      /certificate is not trusted .*NODE_EXTRA_CA_CERTS/,
    );
    assert.equal(
      tlsFailureOf(
        new TypeError('fetch failed', { cause: socketError('connect ECONNREFUSED 10.0.0.5:5000', 'ECONNREFUSED') }),
        'r:5000',
      ),
      null,
    );
    assert.equal(tlsFailureOf('not an error', 'r:5000'), null);
  });
});

describe('manifest cache', () => {
  const manifest = (digest: string, bytes: number) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest,
    body: Buffer.alloc(bytes),
  });

  it('answers by registry, repository and digest', () => {
    const cache = new ManifestCache();
    cache.set('r:5000', 'fleet/app', manifest('sha256:a', 10));
    assert.equal(cache.get('r:5000', 'fleet/app', 'sha256:a')?.digest, 'sha256:a');
    assert.equal(
      cache.get('r:5000', 'fleet/other', 'sha256:a'),
      undefined,
      'another repository may not be readable by the device',
    );
    assert.equal(cache.get('s:5000', 'fleet/app', 'sha256:a'), undefined);
  });

  it('drops the least recently used beyond its entry bound', () => {
    const cache = new ManifestCache(2, 1_000);
    cache.set('r', 'app', manifest('sha256:a', 10));
    cache.set('r', 'app', manifest('sha256:b', 10));
    assert.ok(cache.get('r', 'app', 'sha256:a'), 'a is now the most recent');
    cache.set('r', 'app', manifest('sha256:c', 10));
    assert.equal(cache.size, 2);
    assert.equal(cache.get('r', 'app', 'sha256:b'), undefined);
    assert.ok(cache.get('r', 'app', 'sha256:a'));
    assert.ok(cache.get('r', 'app', 'sha256:c'));
  });

  it('stays within its byte bound and keeps no manifest larger than it', () => {
    const cache = new ManifestCache(10, 100);
    cache.set('r', 'app', manifest('sha256:a', 60));
    cache.set('r', 'app', manifest('sha256:b', 60));
    assert.equal(cache.get('r', 'app', 'sha256:a'), undefined);
    assert.ok(cache.get('r', 'app', 'sha256:b'));
    cache.set('r', 'app', manifest('sha256:huge', 101));
    assert.equal(cache.get('r', 'app', 'sha256:huge'), undefined);
    assert.ok(cache.get('r', 'app', 'sha256:b'), 'a manifest too large to keep evicts nothing');
    cache.set('r', 'app', manifest('sha256:b', 60));
    cache.set('r', 'app', manifest('sha256:c', 40));
    assert.equal(cache.size, 2, 'setting the same digest again does not count its bytes twice');
  });
});

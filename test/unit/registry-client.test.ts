// The shared registry client's one auth path, against a registry with token auth on loopback: a 401 is answered
// once through the pluggable auth and the request sent again; tokens are kept until they run out.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  firstOf,
  mintedTokenAuth,
  RegistryAuthError,
  tokenServerAuth,
  type RegistryCredentials,
} from '../../lib/registry/auth.js';
import { RegistryClient } from '../../lib/registry/client.js';

const BLOB = Buffer.from('hello');
const BLOB_DIGEST = 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';

interface Fake {
  server: Server;
  address: string;
  seen: string[];
  /** Tokens the registry takes; the token server hands out the first. */
  valid: Set<string>;
}

async function fakeRegistry(credentials: RegistryCredentials): Promise<Fake> {
  const seen: string[] = [];
  const valid = new Set(['good-token']);
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`);
    const { port } = server.address() as AddressInfo;
    if (req.url?.startsWith('/token?')) {
      const basic = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
      const scope = new URL(req.url, 'http://x').searchParams.get('scope');
      if (req.headers.authorization !== basic || scope !== 'repository:a/b:pull') {
        res.writeHead(401).end('who are you');
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ token: 'good-token', expires_in: 300 }));
      return;
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (token === undefined || !valid.has(token)) {
      res
        .writeHead(401, {
          'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="fake",scope="repository:a/b:pull"`,
        })
        .end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    if (req.url === `/v2/a/b/blobs/${BLOB_DIGEST}`) res.writeHead(200).end(BLOB);
    else if (req.url === `/v2/a/b/manifests/sha256:${'0'.repeat(64)}`) res.writeHead(200).end(BLOB);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, address: `127.0.0.1:${port}`, seen, valid };
}

describe('registry client: one auth path', () => {
  const credentials = { username: 'device-1', password: 'secret' };
  let fake: Fake;
  let ref: { registry: string; repository: string };

  beforeEach(async () => {
    fake = await fakeRegistry(credentials);
    ref = { registry: fake.address, repository: 'a/b' };
  });
  afterEach(() => fake.server.close());

  it('gets a token from the challenge realm with the credentials, once, and keeps it', async () => {
    const client = new RegistryClient({ auth: tokenServerAuth({ credentials: () => credentials }) });
    assert.deepEqual(await client.blobBytes(ref, BLOB_DIGEST), BLOB);
    assert.deepEqual(await client.blobBytes(ref, BLOB_DIGEST), BLOB);
    assert.deepEqual(
      fake.seen.map((s) => s.replace(/\?.*? /, '? ')),
      [
        `GET /v2/a/b/blobs/${BLOB_DIGEST} -`,
        `GET /token? Basic ${Buffer.from('device-1:secret').toString('base64')}`,
        `GET /v2/a/b/blobs/${BLOB_DIGEST} Bearer good-token`,
        `GET /v2/a/b/blobs/${BLOB_DIGEST} Bearer good-token`,
      ],
    );
  });

  it('renews once: a token the registry still refuses leaves the 401 final, with the registry saying why', async () => {
    fake.valid.clear();
    const client = new RegistryClient({ auth: tokenServerAuth({ credentials: () => credentials }) });
    await assert.rejects(client.blobBytes(ref, BLOB_DIGEST), /GET http:\/\/.*: 401 Unauthorized: .*UNAUTHORIZED/);
    assert.equal(fake.seen.filter((s) => s.startsWith('GET /v2/')).length, 2);
  });

  it("a token server's refusal is a RegistryAuthError naming it", async () => {
    const client = new RegistryClient({
      auth: tokenServerAuth({ credentials: () => ({ username: 'device-1', password: 'wrong' }) }),
    });
    await assert.rejects(
      client.blobBytes(ref, BLOB_DIGEST),
      (err: unknown) =>
        err instanceof RegistryAuthError &&
        /^token request to http:\/\/127\.0\.0\.1:\d+\/token for 127\.0\.0\.1:\d+\/a\/b: 401 Unauthorized: who are you$/.test(
          err.message,
        ),
    );
  });

  it('without auth a 401 is final; a minted token is tried before the token server', async () => {
    await assert.rejects(new RegistryClient().blobBytes(ref, BLOB_DIGEST), /401/);
    const minted: string[] = [];
    const client = new RegistryClient({
      auth: firstOf(
        mintedTokenAuth((r, service) => {
          minted.push(`${r.repository} ${service}`);
          return service === 'fake' ? 'good-token' : null;
        }, 60_000),
        tokenServerAuth(),
      ),
    });
    assert.deepEqual(await client.blobBytes(ref, BLOB_DIGEST), BLOB);
    assert.deepEqual(minted, ['a/b fake']);
    assert.equal(fake.seen.filter((s) => s.startsWith('GET /token')).length, 0);
  });

  it('a manifest by digest must hash to it; a missing one is null by tag, an error by digest', async () => {
    fake.valid.add('t');
    const client = new RegistryClient({ auth: mintedTokenAuth(() => 't', 60_000) });
    await assert.rejects(
      client.getManifest(ref, `sha256:${'0'.repeat(64)}`),
      new RegExp(`manifest bytes hash to ${BLOB_DIGEST}, not the digest asked for`),
    );
    assert.equal(await client.manifest(ref, 'latest'), null);
    await assert.rejects(client.getManifest(ref, BLOB_DIGEST), /404 Not Found/);
  });
});

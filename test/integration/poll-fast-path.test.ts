// The target poll's fast path (registry-api/fleet/poll-fast-path.ts) against a real API: a plain poll answered before
// the router gives exactly the answer the router gives, is counted in /metrics under the route's template like any
// request, and a poll it does not answer (an encoded path, a revoked device) still gets the router's answer.
import assert from 'node:assert/strict';
import { SIGNATURE_HEADER } from '../../protocol/signature.js';
import { paths } from '../../protocol/http/paths.js';
import { ApiServer } from '../../harness/api-server.js';
import { TestDevice } from '../../harness/test-device.js';

const ROUTE = '/v1/device/:uuid/target';

interface Poll {
  status: number;
  etag: string | null;
  signature: string | null;
  cacheControl: string | null;
  contentType: string | null;
  body: string;
}

async function poll(url: string, token: string, etag?: string): Promise<Poll> {
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${token}`, ...(etag === undefined ? {} : { 'if-none-match': etag }) },
  });
  return {
    status: response.status,
    etag: response.headers.get('etag'),
    signature: response.headers.get(SIGNATURE_HEADER),
    cacheControl: response.headers.get('cache-control'),
    contentType: response.headers.get('content-type'),
    body: await response.text(),
  };
}

/** How many requests /metrics counted for the target route with `status`. */
async function counted(api: ApiServer, status: number): Promise<number> {
  const text = await (
    await fetch(`${api.url}${paths.metrics}`, { headers: { authorization: `Bearer ${api.adminToken}` } })
  ).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`skiff_http_requests_total{method="GET",route="${ROUTE}",status="${status}"}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('registry-api: the target poll answered ahead of the router', function () {
  this.timeout(60_000);
  let api: ApiServer;

  before(async () => {
    api = await ApiServer.start({ redisUrl: null });
  });
  after(async () => {
    await api?.stop();
  });

  it('answers, counts and refuses exactly like the route behind it', async () => {
    const fleet = await api.createFleet('fast-poll');
    const device = TestDevice.create('f0a5c1e2-7d3b-4c6a-9e8f-0123456789ab');
    const { token } = await device.token(api.url, { fleet: fleet.name, provisioningKey: fleet.provisioningKey });
    const plain = `${api.url}${paths.target(device.uuid)}`;
    // '%2D' is '-': the router decodes it to the same device, the fast path leaves such a path to the router.
    const encoded = plain.replace(/-(?=[^/]*\/target$)/, '%2D');
    assert.notEqual(encoded, plain);

    const fast = await poll(plain, token);
    const routed = await poll(encoded, token);
    assert.equal(fast.status, 200);
    assert.ok(fast.etag !== null && fast.signature !== null, 'a full answer carries its ETag and signature');
    assert.deepEqual(routed, fast, 'the router gives the very same answer');
    assert.equal(fast.cacheControl, 'no-cache');
    assert.match(fast.contentType ?? '', /^application\/json/);

    const unchanged = await poll(plain, token, fast.etag ?? undefined);
    assert.deepEqual(
      { status: unchanged.status, etag: unchanged.etag, body: unchanged.body },
      { status: 304, etag: fast.etag, body: '' },
    );
    assert.deepEqual(await poll(encoded, token, fast.etag ?? undefined), unchanged);
    assert.equal(await counted(api, 200), 2, 'both full answers counted under the route template');
    assert.equal(await counted(api, 304), 2, 'both 304s counted under the route template');

    const other = TestDevice.create('0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9');
    const { token: otherToken } = await other.token(api.url, {
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
    });
    const foreign = await fetch(plain, { headers: { authorization: `Bearer ${otherToken}` } });
    assert.equal(foreign.status, 403, "another device's token is refused by the router");
    assert.match(foreign.headers.get('content-type') ?? '', /^application\/problem\+json/);

    await api.admin.revokeDevice(device.uuid);
    const revoked = await fetch(plain, {
      headers: { authorization: `Bearer ${token}`, 'if-none-match': fast.etag ?? '' },
    });
    assert.equal(revoked.status, 401, 'a revoked device is refused on its very next poll');
    assert.match(revoked.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(revoked.headers.get('etag'), null);
    assert.equal(await counted(api, 401), 1);
    assert.equal(await counted(api, 304), 2);
  });
});

// Host OS releases through the real API: signed RAUC bundles (built with the real `rauc bundle`, checked at upload
// with the real `rauc info` against the test PKI of scripts/rauc-env.sh), pins per fleet and per device, the signed
// target's hostOs, and the bundle download with Range as devices make it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { OsPinSchema, OsReleaseSchema, type OsRelease } from '../../protocol/os-release.js';
import { decodePublicKey, SIGNATURE_HEADER, verifyTarget } from '../../protocol/signature.js';
import { TargetStateSchema, type TargetState } from '../../protocol/target-state.js';
import { parse } from '../../protocol/validate.js';
import { osPaths, paths } from '../../protocol/http/paths.js';
import { ApiClient } from '../../cli/api-client.js';
import { ApiServer } from '../../harness/api-server.js';
import { loadTestEnv, repoRoot } from '../../harness/env.js';
import { buildBundle, loadRaucEnv, raucEnv, type RaucEnv } from '../../harness/rauc-device.js';
import { TestDevice } from '../../harness/test-device.js';

// Fleets admit known device types only; a RAUC compatible string names the device type its bundles are for.
const TYPE = 'raspberrypi4-64';
const OTHER_TYPE = 'raspberrypi3';
const DEVICE = 'aaaaaaaa-0000-4000-8000-0000000000a1';
const SIBLING = 'aaaaaaaa-0000-4000-8000-0000000000a2';
const STRANGER = 'aaaaaaaa-0000-4000-8000-0000000000b1';

function raucDir(): string {
  const root = process.env.SKIFF_ENV_FILE === undefined ? path.join(repoRoot, '.skiff', 'test') : loadTestEnv().root;
  return path.join(root, 'rauc-api');
}

interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
  json: () => unknown;
}

async function request(
  url: string,
  init: RequestInit & { token?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const { token, headers, ...rest } = init;
  const response = await fetch(url, {
    ...rest,
    headers: { ...headers, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
  });
  const body = Buffer.from(await response.arrayBuffer());
  return {
    status: response.status,
    headers: response.headers,
    body,
    json: () => JSON.parse(body.toString('utf8')) as unknown,
  };
}

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('registry-api host OS releases (integration)', function () {
  this.timeout(180_000);
  const dir = raucDir();
  const bundles = path.join(dir, 'api-bundles');
  let env: RaucEnv;
  let api: ApiServer;
  const tokens: Record<'viewer' | 'developer' | 'operator', string> = { viewer: '', developer: '', operator: '' };
  const deviceTokens: Record<string, string> = {};
  const file: Record<string, string> = {};

  async function upload(name: string, version: string, token = api.adminToken, deviceType = TYPE): Promise<Answer> {
    const query = new URLSearchParams({ deviceType, version }).toString();
    return request(`${api.url}${osPaths.releases}?${query}`, {
      method: 'POST',
      token,
      headers: { 'content-type': 'application/octet-stream' },
      body: await readFile(file[name]!),
    });
  }

  async function target(uuid: string): Promise<{ target: TargetState; signature: string | null }> {
    const answer = await request(`${api.url}${paths.target(uuid)}`, { token: deviceTokens[uuid] });
    assert.equal(answer.status, 200, answer.body.toString());
    return {
      target: parse(TargetStateSchema, answer.json(), 'the target'),
      signature: answer.headers.get(SIGNATURE_HEADER),
    };
  }

  const pinBody = (release: string) => ({
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ release }),
  });

  before(async () => {
    await raucEnv('up', dir, TYPE);
    env = await loadRaucEnv(dir);
    await rm(bundles, { recursive: true, force: true });
    await mkdir(bundles, { recursive: true });
    const root = { '/etc/os-release': 'VERSION_ID=2.0.0\n' };
    file.v2 = await buildBundle(
      env,
      { version: '2.0.0', compatible: TYPE, signer: 'trusted', files: root },
      path.join(bundles, 'v2.raucb'),
    );
    file.v3 = await buildBundle(
      env,
      { version: '3.0.0', compatible: TYPE, signer: 'trusted', files: { '/etc/os-release': 'VERSION_ID=3.0.0\n' } },
      path.join(bundles, 'v3.raucb'),
    );
    file.otherBoard = await buildBundle(
      env,
      { version: '2.0.0', compatible: OTHER_TYPE, signer: 'trusted', files: root },
      path.join(bundles, 'other-type.raucb'),
    );
    file.untrusted = await buildBundle(
      env,
      { version: '2.0.1', compatible: TYPE, signer: 'untrusted', files: root },
      path.join(bundles, 'untrusted.raucb'),
    );

    api = await ApiServer.start({ osBundleKeyring: env.pki.trusted.ca });
    for (const role of ['viewer', 'developer', 'operator'] as const) {
      await api.admin.createUser({ name: role, role });
      tokens[role] = (await api.admin.createToken(role)).token;
    }
    const fleet = await api.createFleet('meters', { deviceType: TYPE });
    const other = await api.createFleet('others', { deviceType: OTHER_TYPE });
    for (const [uuid, f, type] of [
      [DEVICE, fleet, TYPE],
      [SIBLING, fleet, TYPE],
      [STRANGER, other, OTHER_TYPE],
    ] as const) {
      deviceTokens[uuid] = (
        await TestDevice.create(uuid).token(api.url, {
          fleet: f.name,
          provisioningKey: f.provisioningKey,
          deviceType: type,
        })
      ).token;
    }
  });

  after(async () => {
    await api?.stop();
    await raucEnv('down', dir);
  });

  it('keeps an uploaded bundle with the digest and size of its bytes, checked by rauc info', async () => {
    const bytes = await readFile(file.v2!);
    const answer = await upload('v2', '2.0.0', tokens.developer);
    assert.equal(answer.status, 201, answer.body.toString());
    const release = parse(OsReleaseSchema, answer.json(), 'the upload answer');
    assert.equal(release.digest, sha256(bytes));
    assert.equal(release.size, bytes.length);
    assert.equal(release.compatible, TYPE);
    assert.equal(release.uploadedBy, 'developer');
    assert.ok(
      existsSync(path.join(api.dataDir, 'os-bundles', `${release.digest.slice(7)}.raucb`)),
      'the bundle is kept under os-bundles',
    );
    const again = await upload('v2', '2.0.0');
    assert.equal(again.status, 409, again.body.toString());
    const listed = await new ApiClient({ baseUrl: api.url, token: tokens.viewer }).listOsReleases(TYPE);
    assert.deepEqual(
      listed.map((r) => r.version),
      ['2.0.0'],
    );
  });

  it('refuses every upload on an API without a keyring, saying how to configure one', async () => {
    const unchecked = await ApiServer.start();
    try {
      const query = new URLSearchParams({ deviceType: TYPE, version: '9.0.0' }).toString();
      const answer = await request(`${unchecked.url}${osPaths.releases}?${query}`, {
        method: 'POST',
        token: unchecked.adminToken,
        headers: { 'content-type': 'application/octet-stream' },
        body: await readFile('/etc/passwd'),
      });
      assert.equal(answer.status, 503, answer.body.toString());
      assert.match(
        String((answer.json() as { detail: string }).detail),
        /no keyring to check host OS bundles against.*set SKIFF_OS_BUNDLE_KEYRING to the CA certificate/,
      );
      assert.deepEqual(await unchecked.admin.listOsReleases(TYPE), [], 'nothing became a host OS release');
    } finally {
      await unchecked.stop();
    }
  });

  it("refuses a bundle for another device type or signed by another CA, with RAUC's words", async () => {
    const wrongType = await upload('otherBoard', '2.0.5');
    assert.equal(wrongType.status, 400);
    assert.match(
      String((wrongType.json() as { detail: string }).detail),
      /compatible 'raspberrypi3'.*devices of type 'raspberrypi4-64' would refuse it/,
    );
    const untrusted = await upload('untrusted', '2.0.1');
    assert.equal(untrusted.status, 400);
    assert.match(
      String((untrusted.json() as { detail: string }).detail),
      /rauc info refused the bundle: .*unable to get local issuer certificate/,
    );
    const versionMismatch = await upload('v3', '3.0.1');
    assert.equal(versionMismatch.status, 400);
    assert.match(String((versionMismatch.json() as { detail: string }).detail), /version '3\.0\.0'/);
    const leftovers = (await import('node:fs/promises')).readdir(path.join(api.dataDir, 'os-bundles'));
    assert.deepEqual(
      (await leftovers).filter((f) => f.startsWith('.upload-')),
      [],
      'refused uploads leave no temporary file',
    );
  });

  it('lets developers and admins upload, operators and admins pin, and nobody else', async () => {
    assert.equal((await upload('v3', '3.0.0', tokens.viewer)).status, 403);
    assert.equal((await upload('v3', '3.0.0', tokens.operator)).status, 403);
    assert.equal(
      (await request(`${api.url}${osPaths.fleetPin('meters')}`, { ...pinBody('2.0.0'), token: tokens.viewer })).status,
      403,
    );
    assert.equal(
      (await request(`${api.url}${osPaths.fleetPin('meters')}`, { ...pinBody('2.0.0'), token: tokens.developer }))
        .status,
      403,
    );
    assert.equal(
      (await request(`${api.url}${osPaths.devicePin(DEVICE)}`, { ...pinBody('2.0.0'), token: tokens.viewer })).status,
      403,
    );
    assert.equal((await request(`${api.url}${osPaths.fleetPin('meters')}`, { ...pinBody('2.0.0') })).status, 401);
  });

  it("puts the pinned release into the signed target, the device's pin over its fleet's", async () => {
    const before = await target(DEVICE);
    assert.equal(before.target.hostOs, undefined, 'no pin: the host OS is left alone');

    const v3 = await upload('v3', '3.0.0');
    assert.equal(v3.status, 201, v3.body.toString());
    const v2 = (await api.admin.listOsReleases(TYPE)).find((r) => r.version === '2.0.0') as OsRelease;

    const fleetPin = await request(`${api.url}${osPaths.fleetPin('meters')}`, {
      ...pinBody('2.0.0'),
      token: tokens.operator,
    });
    assert.equal(fleetPin.status, 200, fleetPin.body.toString());
    assert.equal(parse(OsPinSchema, fleetPin.json(), 'the pin').pinned?.id, v2.id);

    const pinned = await target(DEVICE);
    assert.deepEqual(pinned.target.hostOs, {
      version: '2.0.0',
      digest: v2.digest,
      size: v2.size,
      url: osPaths.bundle(DEVICE, v2.id),
    });
    const key = decodePublicKey(api.signingKey);
    verifyTarget(key, pinned.target, pinned.signature);
    const altered = {
      ...pinned.target,
      hostOs: { ...pinned.target.hostOs!, digest: parse(OsReleaseSchema, v3.json(), 'v3').digest },
    };
    assert.throws(() => verifyTarget(key, altered, pinned.signature), /does not match/, 'the signature covers hostOs');

    const devicePin = await request(`${api.url}${osPaths.devicePin(DEVICE)}`, {
      ...pinBody('3.0.0'),
      token: tokens.operator,
    });
    assert.equal(devicePin.status, 200, devicePin.body.toString());
    assert.equal((await target(DEVICE)).target.hostOs?.version, '3.0.0', 'the device pin wins');
    assert.equal((await target(SIBLING)).target.hostOs?.version, '2.0.0', 'its sibling follows the fleet');
    assert.equal((await target(STRANGER)).target.hostOs, undefined, 'another fleet is not touched');

    const wrongType = await request(`${api.url}${osPaths.devicePin(STRANGER)}`, {
      ...pinBody('2.0.0'),
      token: tokens.operator,
    });
    assert.equal(wrongType.status, 404, 'no release of its type has that version');

    const unpinned = await request(`${api.url}${osPaths.devicePin(DEVICE)}`, {
      method: 'DELETE',
      token: tokens.operator,
    });
    assert.equal(unpinned.status, 200, unpinned.body.toString());
    assert.equal((await target(DEVICE)).target.hostOs?.version, '2.0.0', "back to its fleet's pin");

    const audit = await api.admin.listAudit({ fleet: 'meters' });
    assert.deepEqual(
      audit.slice(0, 3).map((e) => `${e.actor} ${e.action} ${e.target}`),
      [`operator os.unpin device:${DEVICE}`, `operator os.pin device:${DEVICE}`, 'operator os.pin fleet:meters'],
    );
  });

  it('serves the bundle to devices of its type only, whole or from a byte on (206, 416, If-Range)', async () => {
    const { hostOs } = (await target(SIBLING)).target;
    assert.ok(hostOs);
    const bytes = await readFile(file.v2!);
    const url = new URL(hostOs.url, api.url).toString();

    const whole = await request(url, { token: deviceTokens[SIBLING] });
    assert.equal(whole.status, 200);
    assert.equal(sha256(whole.body), hostOs.digest);
    assert.equal(whole.headers.get('accept-ranges'), 'bytes');
    const etag = whole.headers.get('etag');
    assert.equal(etag, `"${hostOs.digest.slice(7)}"`);

    const from = 1000;
    const tail = await request(url, { token: deviceTokens[SIBLING], headers: { range: `bytes=${from}-` } });
    assert.equal(tail.status, 206);
    assert.equal(tail.headers.get('content-range'), `bytes ${from}-${bytes.length - 1}/${bytes.length}`);
    assert.ok(tail.body.equals(bytes.subarray(from)));

    const middle = await request(url, {
      token: deviceTokens[SIBLING],
      headers: { range: 'bytes=10-19', 'if-range': etag! },
    });
    assert.equal(middle.status, 206);
    assert.ok(middle.body.equals(bytes.subarray(10, 20)));

    const changed = await request(url, {
      token: deviceTokens[SIBLING],
      headers: { range: 'bytes=10-19', 'if-range': '"another"' },
    });
    assert.equal(changed.status, 200, 'a resumed download of other bytes starts over');
    assert.equal(changed.body.length, bytes.length);

    const beyond = await request(url, { token: deviceTokens[SIBLING], headers: { range: `bytes=${bytes.length}-` } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), `bytes */${bytes.length}`);

    const notModified = await request(url, { token: deviceTokens[SIBLING], headers: { 'if-none-match': etag! } });
    assert.equal(notModified.status, 304);

    const id = path.basename(path.dirname(hostOs.url));
    const stranger = await request(`${api.url}${osPaths.bundle(STRANGER, id)}`, { token: deviceTokens[STRANGER] });
    assert.equal(stranger.status, 404, 'a device of another type does not see it');
    const foreignPath = await request(`${api.url}${osPaths.bundle(SIBLING, id)}`, { token: deviceTokens[STRANGER] });
    assert.equal(foreignPath.status, 403, 'a device cannot fetch as another device');
    const anonymous = await request(url);
    assert.equal(anonymous.status, 401);
    const asUser = await request(url, { token: api.adminToken });
    assert.equal(asUser.status, 401, 'the bundle route takes device tokens only');
  });

  it('refuses to delete a pinned release, and deletes its bundle once unpinned', async () => {
    const v2 = (await api.admin.listOsReleases(TYPE)).find((r) => r.version === '2.0.0') as OsRelease;
    const refused = await request(`${api.url}${osPaths.release(v2.id)}`, { method: 'DELETE', token: tokens.developer });
    assert.equal(refused.status, 409);
    assert.match(String((refused.json() as { detail: string }).detail), /pinned by fleet meters/);
    assert.equal(
      (await request(`${api.url}${osPaths.release(v2.id)}`, { method: 'DELETE', token: tokens.viewer })).status,
      403,
    );

    await api.admin.unpinFleetOs('meters');
    assert.equal((await target(SIBLING)).target.hostOs, undefined);
    const deleted = await request(`${api.url}${osPaths.release(v2.id)}`, { method: 'DELETE', token: tokens.developer });
    assert.equal(deleted.status, 200, deleted.body.toString());
    assert.equal(
      existsSync(path.join(api.dataDir, 'os-bundles', `${v2.digest.slice(7)}.raucb`)),
      false,
      'its file is gone',
    );
    const gone = await request(`${api.url}${osPaths.bundle(SIBLING, v2.id)}`, { token: deviceTokens[SIBLING] });
    assert.equal(gone.status, 404);
  });
});

// The fleet bench/api-poll polls with: one fleet with a release, N devices admitted over the real HTTP API (each
// with its own Ed25519 key, as supervisors do), and each device's token and current target ETag.
import { generateKeyPairSync } from 'node:crypto';
import { ApiClient } from '../../cli/api-client.js';
import { paths } from '../../protocol/api.js';
import { DEVICE_SIGNATURE_HEADER, DeviceAuthResponseSchema, signDeviceRequest } from '../../protocol/device-auth.js';
import { encodePublicKey } from '../../protocol/signature.js';
import { parse } from '../../protocol/validate.js';
import type { WrkTarget } from './wrk.js';

const COMPOSE = `services:
  meter-reader:
    image: 127.0.0.1:5000/meters/reader@sha256:${'a'.repeat(64)}
    restart: always
    environment:
      METER_PORT: /dev/ttyUSB0
  uploader:
    image: 127.0.0.1:5000/meters/uploader@sha256:${'b'.repeat(64)}
    restart: always
    depends_on: [meter-reader]
`;

/** Runs `work` on every item, `concurrency` at a time. */
async function eachLimited<T, R>(items: readonly T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  }));
  return results;
}

export interface PollFleet {
  targets: WrkTarget[];
  releaseStatus: string;
}

export async function preparePollFleet(apiUrl: string, adminToken: string, devices: number, progress: (line: string) => void): Promise<PollFleet> {
  const admin = new ApiClient({ baseUrl: apiUrl, token: adminToken });
  const fleet = await admin.createFleet({ name: 'bench-meters', deviceType: 'raspberrypi4-64' });
  const release = await admin.createRelease(fleet.name, { compose: COMPOSE, images: {}, version: '1.0.0' });

  const started = Date.now();
  const uuids = Array.from({ length: devices }, (_, i) => `bench-${String(i).padStart(6, '0')}-0000-4000-8000-000000000000`);
  const tokens = await eachLimited(uuids, 16, async (uuid) => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const body = {
      uuid, publicKey: encodePublicKey(publicKey), deviceType: 'raspberrypi4-64', fleet: fleet.name,
      provisioningKey: fleet.provisioningKey, timestamp: new Date().toISOString(),
    };
    const response = await fetch(`${apiUrl}${paths.deviceAuth}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [DEVICE_SIGNATURE_HEADER]: signDeviceRequest(privateKey, body) },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`admitting ${uuid} answered ${response.status}: ${text}`);
    return parse(DeviceAuthResponseSchema, JSON.parse(text), `the auth answer for ${uuid}`).token;
  });
  progress(`${devices} devices admitted in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const targets = await eachLimited(uuids.map((uuid, i) => ({ uuid, token: tokens[i]! })), 16, async ({ uuid, token }) => {
    const response = await fetch(`${apiUrl}${paths.target(uuid)}`, { headers: { authorization: `Bearer ${token}` } });
    await response.arrayBuffer();
    const etag = response.headers.get('etag');
    if (response.status !== 200 || etag === null) throw new Error(`the target of ${uuid} answered ${response.status} with ETag ${etag}`);
    return { target: paths.target(uuid), token, etag };
  });
  return { targets, releaseStatus: release.status };
}

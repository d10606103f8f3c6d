// The fleet bench/api-poll polls with: one fleet with a ready release whose images are in the environment's real
// registry, N devices admitted over the real HTTP API (each with its own Ed25519 key, as supervisors do), and each
// device's token and current target ETag.
import { generateKeyPairSync } from 'node:crypto';
import { meterCompose, pushTinyImage } from '../../harness/fleet-sim/release.js';
import { ApiClient } from '../../cli/api-client.js';
import { DEVICE_SIGNATURE_HEADER, DeviceAuthResponseSchema, signDeviceRequest } from '../../protocol/device-auth.js';
import { encodePublicKey } from '../../protocol/signature.js';
import { parse } from '../../protocol/validate.js';
import { paths } from '../../protocol/http/paths.js';
import type { WrkTarget } from './wrk.js';

/** Runs `work` on every item, `concurrency` at a time. */
async function eachLimited<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i]!);
      }
    }),
  );
  return results;
}

export interface PollFleet {
  targets: WrkTarget[];
  releaseStatus: string;
}

/** `registry`: host:port of a plain-HTTP registry on loopback (the environment's). */
export async function preparePollFleet(
  apiUrl: string,
  adminToken: string,
  registry: string,
  devices: number,
  progress: (line: string) => void,
): Promise<PollFleet> {
  const admin = new ApiClient({ baseUrl: apiUrl, token: adminToken });
  const fleet = await admin.createFleet({ name: 'bench-meters', deviceType: 'generic-amd64' });
  const reader = `${registry}/bench-meters/reader@${await pushTinyImage(registry, 'bench-meters/reader')}`;
  const uploader = `${registry}/bench-meters/uploader@${await pushTinyImage(registry, 'bench-meters/uploader')}`;
  const release = await admin.createRelease(fleet.name, {
    compose: meterCompose(reader, uploader),
    images: {},
    version: '1.0.0',
  });

  const started = Date.now();
  const uuids = Array.from({ length: devices }, (_, i) => `${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`);
  const tokens = await eachLimited(uuids, 16, async (uuid) => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const body = {
      uuid,
      publicKey: encodePublicKey(publicKey),
      deviceType: 'generic-amd64',
      fleet: fleet.name,
      provisioningKey: fleet.provisioningKey,
      timestamp: new Date().toISOString(),
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
  // Polls must get the release's real signed target, as devices of a live fleet do, not the empty one of a fleet
  // whose release is still being verified.
  const deadline = Date.now() + 60_000;
  let status = release.status;
  while (status === 'pending' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    status = (await admin.getRelease(fleet.name, release.version)).status;
  }
  if (status !== 'ready')
    throw new Error(`release ${release.version} is ${status}, not ready: polls would not get its target`);

  const targets = await eachLimited(
    uuids.map((uuid, i) => ({ uuid, token: tokens[i]! })),
    16,
    async ({ uuid, token }) => {
      const response = await fetch(`${apiUrl}${paths.target(uuid)}`, { headers: { authorization: `Bearer ${token}` } });
      await response.arrayBuffer();
      const etag = response.headers.get('etag');
      if (response.status !== 200 || etag === null)
        throw new Error(`the target of ${uuid} answered ${response.status} with ETag ${etag}`);
      return { target: paths.target(uuid), token, etag };
    },
  );
  return { targets, releaseStatus: status };
}

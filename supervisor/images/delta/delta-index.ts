// Which patches the registry holds for an image: its delta artifact (protocol/delta.ts), read with the same
// credentials as the image. No artifact (404) is the normal case for a first release: no patches.
import { DeltaManifestSchema, deltaTagOf, patchesOf, type LayerPatch } from '../../../protocol/delta.js';
import { parse } from '../../../protocol/validate.js';
import type { DigestReference, RegistryClient } from '../../registry/client.js';

export async function patchesFor(
  registry: RegistryClient,
  ref: DigestReference,
  configDigest: string,
  signal?: AbortSignal,
): Promise<LayerPatch[]> {
  const tag = deltaTagOf(configDigest);
  const url = `${registry.baseUrl(ref.registry)}/${ref.repository}/manifests/${tag}`;
  const auth = registry.authFor(ref);
  for (let renewed = false; ; renewed = true) {
    const response = await fetch(url, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json', ...(await auth.headers(url, signal)) },
      signal,
    });
    if (response.status === 401 && !renewed) {
      await response.body?.cancel();
      if (await auth.renew(url, response.headers.get('www-authenticate'), signal)) continue;
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return [];
    }
    if (!response.ok) {
      const text = (await response.text().catch(() => '')).slice(0, 300);
      throw new Error(`GET ${url}: ${response.status} ${response.statusText}${text === '' ? '' : `: ${text}`}`);
    }
    return patchesOf(
      parse(DeltaManifestSchema, await response.json(), `delta artifact ${ref.registry}/${ref.repository}:${tag}`),
    );
  }
}

// Which patches the registry holds for an image: its delta artifact (protocol/delta.ts), read with the same
// credentials as the image. No artifact (404) is the normal case for a first release: no patches.
import { DeltaManifestSchema, deltaTagOf, patchesOf, type LayerPatch } from '../../../protocol/delta.js';
import type { DigestReference } from '../../../protocol/image-reference.js';
import { parse } from '../../../protocol/validate.js';
import type { RegistryClient } from '../../../lib/registry/client.js';

export async function patchesFor(
  registry: RegistryClient,
  ref: DigestReference,
  configDigest: string,
  signal?: AbortSignal,
): Promise<LayerPatch[]> {
  const tag = deltaTagOf(configDigest);
  const artifact = await registry.manifest(ref, tag, signal);
  if (artifact === null) return [];
  return patchesOf(
    parse(
      DeltaManifestSchema,
      JSON.parse(artifact.body.toString('utf8')),
      `delta artifact ${ref.registry}/${ref.repository}:${tag}`,
    ),
  );
}

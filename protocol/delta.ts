// Delta patches between image layers, as registry-api stores them and devices read them: one OCI artifact
// per target image, in the image's own repository (so the device's pull token reaches it), tagged after the target's
// config digest (= image ID, which both sides know whatever manifest list led to it). Each layer of the artifact is
// one binary patch that turns an uncompressed layer tar (fromDiffId) into another (toDiffId). Discovery through a tag
// needs nothing from the API and no referrers API (distribution 2.8 has none); a missing tag means "no deltas":
// the device pulls whole layers, as before. Everything here is additive: no target-state field changed.
import { Type, type Static } from '@sinclair/typebox';

export const DELTA_ARTIFACT_TYPE = 'application/vnd.skiff.delta.v1';
/** The OCI 1.1 empty config an artifact without a config of its own points to. */
export const EMPTY_CONFIG = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
  bytes: '{}',
} as const;

export const DELTA_TOOLS = ['zstd', 'xdelta3'] as const;
export type DeltaTool = (typeof DELTA_TOOLS)[number];

/**
 * xdelta3's source window (-B), which the server's encoder and the device's decoder must agree on: 64 MiB keeps
 * applying a patch near 86 MB of memory on the device.
 */
export const XDELTA3_WINDOW = 64 * 1024 * 1024;

export const PATCH_MEDIA_TYPES: Record<DeltaTool, string> = {
  zstd: 'application/vnd.skiff.delta.patch.v1.zstd',
  xdelta3: 'application/vnd.skiff.delta.patch.v1.xdelta3',
};

export const DELTA_ANNOTATIONS = {
  from: 'io.skiff.delta.from-diff-id',
  to: 'io.skiff.delta.to-diff-id',
  tool: 'io.skiff.delta.tool',
  /** Size of the uncompressed layer the patch produces: lets the device check its disk first. */
  toSize: 'io.skiff.delta.to-size',
} as const;

/** The tag of the delta artifact for the image whose config digest is `configDigest`. */
export function deltaTagOf(configDigest: string): string {
  const match = /^sha256:([a-f0-9]{64})$/.exec(configDigest);
  if (match === null) throw new Error(`config digest '${configDigest}' is not sha256:<64 hex>`);
  return `skiff-delta-${match[1]}`;
}

const Digest = Type.String({ pattern: '^sha256:[a-f0-9]{64}$' });

export const PatchDescriptorSchema = Type.Object({
  mediaType: Type.String(),
  digest: Digest,
  size: Type.Integer({ minimum: 0 }),
  annotations: Type.Object({
    [DELTA_ANNOTATIONS.from]: Digest,
    [DELTA_ANNOTATIONS.to]: Digest,
    [DELTA_ANNOTATIONS.tool]: Type.Union(DELTA_TOOLS.map((t) => Type.Literal(t))),
    [DELTA_ANNOTATIONS.toSize]: Type.String({ pattern: '^[0-9]+$' }),
  }),
});
export type PatchDescriptor = Static<typeof PatchDescriptorSchema>;

export const DeltaManifestSchema = Type.Object({
  schemaVersion: Type.Literal(2),
  mediaType: Type.Literal('application/vnd.oci.image.manifest.v1+json'),
  artifactType: Type.Literal(DELTA_ARTIFACT_TYPE),
  config: Type.Object({ mediaType: Type.String(), digest: Digest, size: Type.Integer({ minimum: 0 }) }),
  layers: Type.Array(PatchDescriptorSchema),
  annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
});
export type DeltaManifest = Static<typeof DeltaManifestSchema>;

/** One patch, in the terms both sides reason in. */
export interface LayerPatch {
  fromDiffId: string;
  toDiffId: string;
  tool: DeltaTool;
  digest: string;
  size: number;
  toSize: number;
}

export function patchesOf(manifest: DeltaManifest): LayerPatch[] {
  return manifest.layers.map((l) => ({
    fromDiffId: l.annotations[DELTA_ANNOTATIONS.from],
    toDiffId: l.annotations[DELTA_ANNOTATIONS.to],
    tool: l.annotations[DELTA_ANNOTATIONS.tool],
    digest: l.digest,
    size: l.size,
    toSize: Number(l.annotations[DELTA_ANNOTATIONS.toSize]),
  }));
}

export function deltaManifestOf(patches: LayerPatch[], annotations: Record<string, string> = {}): DeltaManifest {
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: DELTA_ARTIFACT_TYPE,
    config: { mediaType: EMPTY_CONFIG.mediaType, digest: EMPTY_CONFIG.digest, size: EMPTY_CONFIG.size },
    layers: patches.map((p) => ({
      mediaType: PATCH_MEDIA_TYPES[p.tool],
      digest: p.digest,
      size: p.size,
      annotations: {
        [DELTA_ANNOTATIONS.from]: p.fromDiffId,
        [DELTA_ANNOTATIONS.to]: p.toDiffId,
        [DELTA_ANNOTATIONS.tool]: p.tool,
        [DELTA_ANNOTATIONS.toSize]: String(p.toSize),
      },
    })),
    annotations,
  };
}

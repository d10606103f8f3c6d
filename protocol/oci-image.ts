// The distribution registry's documents as a device reads them: manifests (Docker v2 schema 2 and OCI), manifest
// lists / indexes, image configs and token answers. Only the fields Skiff uses are required; registries add more.
import { Type, type Static } from '@sinclair/typebox';

export const MEDIA_TYPES = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
} as const;

/** Every manifest type a device understands; asked only for OCI, distribution 2.8 answers with schema 1. */
export const MANIFEST_ACCEPT = Object.values(MEDIA_TYPES).join(', ');

/** A WWW-Authenticate challenge of a 401 answer (RFC 7235): the registry's way to say where tokens come from. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="x",service="y",scope="z"` (quoted or bare values). */
export function parseChallenge(header: string): Challenge | null {
  const match = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (match === null || match[1] === undefined) return null;
  const params: Record<string, string> = {};
  for (const p of (match[2] ?? '').matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    if (p[1] !== undefined) params[p[1].toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: match[1].toLowerCase(), params };
}

const Digest = Type.String({ pattern: '^sha256:[a-f0-9]{64}$' });

export const DescriptorSchema = Type.Object({
  mediaType: Type.String(),
  digest: Digest,
  size: Type.Integer({ minimum: 0 }),
});
export type Descriptor = Static<typeof DescriptorSchema>;

export const PlatformSchema = Type.Object({
  architecture: Type.String(),
  os: Type.String(),
  variant: Type.Optional(Type.String()),
});
export type Platform = Static<typeof PlatformSchema>;

export const ImageManifestSchema = Type.Object({
  schemaVersion: Type.Literal(2),
  mediaType: Type.Optional(Type.String()),
  config: DescriptorSchema,
  layers: Type.Array(DescriptorSchema),
});
export type ImageManifest = Static<typeof ImageManifestSchema>;

export const ImageIndexSchema = Type.Object({
  schemaVersion: Type.Literal(2),
  mediaType: Type.Optional(Type.String()),
  manifests: Type.Array(Type.Composite([DescriptorSchema, Type.Object({ platform: Type.Optional(PlatformSchema) })])),
});
export type ImageIndex = Static<typeof ImageIndexSchema>;

export const ImageConfigSchema = Type.Object({
  architecture: Type.Optional(Type.String()),
  os: Type.Optional(Type.String()),
  variant: Type.Optional(Type.String()),
  rootfs: Type.Object({
    type: Type.Literal('layers'),
    diff_ids: Type.Array(Digest),
  }),
});
export type ImageConfig = Static<typeof ImageConfigSchema>;

/** The token server's answer (docker token auth spec: `token`, or OAuth2's `access_token`). */
export const RegistryTokenSchema = Type.Object({
  token: Type.Optional(Type.String({ minLength: 1 })),
  access_token: Type.Optional(Type.String({ minLength: 1 })),
  expires_in: Type.Optional(Type.Integer({ minimum: 1 })),
});
export type RegistryToken = Static<typeof RegistryTokenSchema>;

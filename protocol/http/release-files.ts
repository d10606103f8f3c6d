// The files a release carries (relative binds, compose configs and secrets): `skiff push` uploads each as a
// content-addressed blob of the fleet before it creates the release that names them; a device downloads the blobs
// its target names, resuming with Range, as it does image layers.
import { Type } from '@sinclair/typebox';
import { ok, type RouteSpec } from './route.js';

const BLOB = 'application/octet-stream';

export const ReleaseFileUploadSchema = Type.Object(
  {
    digest: Type.String({ pattern: '^sha256:[a-f0-9]{64}$' }),
    size: Type.Integer({ minimum: 0 }),
    /** false: the fleet already had these bytes. */
    created: Type.Boolean(),
  },
  { additionalProperties: false },
);

export const RELEASE_FILE_ROUTES = {
  putReleaseFile: {
    method: 'PUT',
    path: '/v1/fleets/:fleet/files/:digest',
    summary: "Upload a file for the fleet's releases, named by its sha256 digest (checked); at most 1 MiB",
    access: { action: 'release.push' },
    rawBody: { mediaType: BLOB, description: 'The file, as is' },
    responses: {
      200: ok('The fleet already had it', ReleaseFileUploadSchema),
      201: ok('Stored', ReleaseFileUploadSchema),
    },
  },
} as const satisfies Record<string, RouteSpec>;

/** The device's download of a file its target names (in device-api.ts's module style: no people's schemas). */
export const DEVICE_RELEASE_FILE_ROUTES = {
  releaseFile: {
    method: 'GET',
    path: '/v1/device/:uuid/files/:digest',
    summary: "A file of a release of the device's fleet: Range (206, 416), If-Range, ETag (the digest)",
    access: 'device',
    responses: {
      200: { description: 'The whole file', schema: Type.String(), mediaType: BLOB },
      206: { description: 'The part the Range asked for (Content-Range)', schema: Type.String(), mediaType: BLOB },
      304: { description: 'Unchanged since the If-None-Match ETag' },
      416: { description: 'The Range lies outside the file (Content-Range: bytes */SIZE)' },
    },
  },
} as const satisfies Record<string, RouteSpec>;

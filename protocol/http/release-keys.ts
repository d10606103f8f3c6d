// The routes of the release keys a fleet trusts (protocol/release-signature.ts): read the signed set, and replace it
// with a new version signed by a key of the set trusted now (the fleet's first set: by one of its own keys).
import { ReleaseKeysSchema, SignedKeySetSchema } from '../release-signature.js';
import { ok, type RouteSpec } from './route.js';

const KEY_EXAMPLE = `MCowBQYDK2VwAyEA${'A'.repeat(43)}=`;

export const RELEASE_KEY_ROUTES = {
  getReleaseKeys: {
    method: 'GET',
    path: '/v1/fleets/:fleet/release-keys',
    summary: 'The release keys the fleet trusts, as the signed key set devices check',
    access: { action: 'read' },
    responses: { 200: ok('The key set (version 0 and no keys: the fleet takes unsigned releases)', ReleaseKeysSchema) },
  },
  putReleaseKeys: {
    method: 'PUT',
    path: '/v1/fleets/:fleet/release-keys',
    summary:
      "Replace the fleet's release keys with a key set one version up, signed by a key trusted now; from then on every push must be signed",
    access: { action: 'release-keys.manage' },
    body: SignedKeySetSchema,
    bodyName: 'the signed key set',
    example: {
      document: { type: 'skiff.release-keys.v1', fleet: 'meters', version: 1, keys: [KEY_EXAMPLE] },
      signature: { keyId: 'c'.repeat(64), value: `${'A'.repeat(86)}==` },
    },
    responses: { 200: ok('The key set now trusted', ReleaseKeysSchema) },
  },
} as const satisfies Record<string, RouteSpec>;

// The release keys a fleet trusts. Admins replace the whole set with a signed key-set document one version up; the
// API checks it follows the stored set (signed by a key of it; the first set by one of its own keys) so the chain a
// device walks from its pinned keys holds. Pushes to a fleet with keys must then carry a signature by one of them.
import {
  acceptKeySet,
  keyIdOf,
  trustedKeysOf,
  verifyRelease,
  type ReleaseContent,
  type ReleaseKeys,
  type ReleaseSignature,
  type SignedKeySet,
} from '../../../protocol/release-signature.js';
import { decodePublicKey, SignatureError } from '../../../protocol/signature.js';
import { ROUTES } from '../../../protocol/http/routes.js';
import { stampOf } from '../auth.js';
import type { RouteDeps } from '../../deps.js';
import { badRequest, conflict, ProblemError } from '../problem.js';
import type { Register } from '../register.js';
import type { ReleaseKeyStore } from '../../store/index.js';
import { fleetOr404 } from './fleets.js';

export function releaseKeysView(fleet: string, keySet: SignedKeySet | null): ReleaseKeys {
  return {
    fleet,
    version: keySet?.document.version ?? 0,
    keys: (keySet?.document.keys ?? []).map((publicKey) => ({
      keyId: keyIdOf(decodePublicKey(publicKey, 'a stored release key')),
      publicKey,
    })),
    keySet,
  };
}

/**
 * Refuses (403 release-signature) a push to a fleet that trusts release keys unless one of them signed `content`.
 * A fleet without keys takes any push; a signature it carries is kept for devices that pin keys of their own.
 */
export async function requireReleaseSignature(
  releaseKeys: ReleaseKeyStore,
  content: ReleaseContent,
  signature: ReleaseSignature | undefined,
): Promise<void> {
  const keySet = await releaseKeys.get(content.fleet);
  if (keySet === null) return;
  const what = `release for fleet '${content.fleet}'`;
  if (signature === undefined) {
    throw new ProblemError(
      403,
      'release-signature',
      `${what}: fleet '${content.fleet}' accepts only releases signed by one of its ${keySet.document.keys.length} release key(s); ` +
        'this push is unsigned (make a key with `skiff release-key create`; an admin adds it with `skiff release-keys add`)',
    );
  }
  try {
    verifyRelease(trustedKeysOf(keySet.document.keys, 'stored release keys'), content, signature, what);
  } catch (err) {
    if (err instanceof SignatureError) throw new ProblemError(403, 'release-signature', err.message);
    throw err;
  }
}

export function releaseKeyRoutes(on: Register, deps: RouteDeps): void {
  const { store, logger } = deps;

  on(ROUTES.getReleaseKeys, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    ctx.body = releaseKeysView(fleet.name, await store.releaseKeys.get(fleet.name));
  });

  on(ROUTES.putReleaseKeys, async (ctx, request) => {
    const fleet = await fleetOr404(store.fleets, request.params.fleet);
    const next = await request.body();
    const current = await store.releaseKeys.get(fleet.name);
    const expected = (current?.document.version ?? 0) + 1;
    // Two admins changing the set at once both sign version n+1: the second learns it lost, not that it forged.
    if (next.document.version !== expected) {
      throw conflict(
        `fleet '${fleet.name}' has release key set version ${expected - 1}; a change must be version ${expected}, ` +
          `not ${next.document.version} (read the set again and sign the change anew)`,
      );
    }
    try {
      acceptKeySet(
        current === null
          ? { fleet: fleet.name, version: 0, trusted: null }
          : {
              fleet: fleet.name,
              version: current.document.version,
              trusted: trustedKeysOf(current.document.keys, 'stored release keys'),
            },
        next,
        `release key set version ${next.document.version} for fleet '${fleet.name}'`,
      );
    } catch (err) {
      if (err instanceof SignatureError) throw new ProblemError(403, 'release-signature', err.message);
      // A key of the document that is not an Ed25519 public key.
      if (err instanceof Error) throw badRequest('invalid-release-key', err.message);
      throw err;
    }
    const stored = await store.releaseKeys.replace(fleet.name, next, stampOf(ctx, deps.now));
    logger.info(
      {
        fleet: fleet.name,
        version: stored.document.version,
        keys: stored.document.keys.length,
        signedBy: stored.signature.keyId,
      },
      'release keys replaced',
    );
    ctx.body = releaseKeysView(fleet.name, stored);
  });
}

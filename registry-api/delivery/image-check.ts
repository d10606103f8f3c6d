// Whether an image a release names exists in its registry: HEAD of the manifest by digest (distribution API v2),
// with the full Accept list (asked only for OCI, distribution 2.8 answers with a schema1 manifest), through the
// shared registry client: the API's own pull token for the registry it is the token server of, else the anonymous
// token dance. Absent is final; unreachable is worth a retry.
import { parseDigestReference } from '../../protocol/image-reference.js';
import { type PlatformName, platformNameOf } from '../../protocol/device-types.js';
import { tlsFailureOf } from '../../lib/insecure-registries.js';
import {
  firstOf,
  mintedTokenAuth,
  RegistryAuthError,
  tokenServerAuth,
  type RegistryAuth,
} from '../../lib/registry/auth.js';
import { RegistryClient, RegistryTlsError } from '../../lib/registry/client.js';
import { imagePlatforms } from '../../lib/registry/image-index.js';

export type ImageCheck =
  | { kind: 'present' }
  /** The registry answered and the image is not there (or may not be read): retrying will not help. */
  | { kind: 'absent'; reason: string }
  /** No usable answer (refused, timeout, 5xx, 429): the same question may work later. */
  | { kind: 'unreachable'; reason: string };

export interface ImageCheckOptions {
  /** host:port of registries spoken to over plain HTTP; loopback hosts always are (as Docker treats them). */
  insecureRegistries?: readonly string[];
  /** Each request (token requests included) is given this long. */
  timeoutMs?: number;
  /**
   * A pull token the API issues itself for a registry whose token server it is (challenge service matches), so
   * releases in a registry with token auth verify; null falls back to the anonymous token dance.
   */
  tokenFor?: (repository: string, service: string | undefined) => string | null;
}

/** Tokens the API signs are short-lived; a minute is well inside their lifetime. */
const OWN_TOKEN_LIFETIME_MS = 60_000;

/** The registry client release verification asks with. */
export function imageCheckRegistry(options: ImageCheckOptions = {}): RegistryClient {
  const { tokenFor } = options;
  const auths: RegistryAuth[] = [];
  if (tokenFor !== undefined)
    auths.push(mintedTokenAuth((ref, service) => tokenFor(ref.repository, service), OWN_TOKEN_LIFETIME_MS));
  auths.push(tokenServerAuth());
  return new RegistryClient({
    insecureRegistries: options.insecureRegistries ?? [],
    timeoutMs: options.timeoutMs ?? 15_000,
    auth: firstOf(...auths),
  });
}

function causeOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'no answer in time';
  const cause = (err as Error & { cause?: unknown }).cause;
  if (cause instanceof Error) return (cause as NodeJS.ErrnoException).code ?? cause.message;
  return err.message;
}

export async function checkImage(registry: RegistryClient, reference: string): Promise<ImageCheck> {
  const ref = parseDigestReference(reference);
  const url = registry.manifestUrl(ref, ref.digest);
  const where = `${ref.registry}/${ref.repository}`;
  const refused = (status: number): ImageCheck => ({
    kind: 'absent',
    reason: `registry ${ref.registry} refused to show ${where} without credentials (HTTP ${status})`,
  });

  let head: Awaited<ReturnType<RegistryClient['headManifest']>>;
  try {
    head = await registry.headManifest(ref, ref.digest);
  } catch (err) {
    // The token server would not give a token: the registry's 401 stands.
    if (err instanceof RegistryAuthError) return refused(401);
    const cause = err instanceof RegistryTlsError ? err.explanation : (tlsFailureOf(err, ref.registry) ?? causeOf(err));
    return { kind: 'unreachable', reason: `registry ${ref.registry} did not answer HEAD ${url}: ${cause}` };
  }

  if (head.status >= 200 && head.status < 300) {
    if (head.digest !== null && head.digest !== ref.digest) {
      return {
        kind: 'absent',
        reason: `registry ${ref.registry} served digest ${head.digest} for ${where}@${ref.digest}`,
      };
    }
    return { kind: 'present' };
  }
  if (head.status === 404) return { kind: 'absent', reason: `manifest ${ref.digest} is not in ${where} (HTTP 404)` };
  if (head.status === 401 || head.status === 403) return refused(head.status);
  if (head.status === 429 || head.status >= 500) {
    return {
      kind: 'unreachable',
      reason: `registry ${ref.registry} answered HTTP ${head.status} for ${where}@${ref.digest}`,
    };
  }
  return { kind: 'absent', reason: `registry ${ref.registry} answered HTTP ${head.status} for ${where}@${ref.digest}` };
}

/**
 * The platforms an image (by digest) has, as Skiff names them: each entry of a manifest list, or the one its config
 * states. Entries of platforms Skiff has no device type for (attestations list unknown/unknown) are left out.
 * Throws when the registry cannot show the image: the caller checked it is present just before.
 */
export async function platformsOfImage(registry: RegistryClient, reference: string): Promise<PlatformName[]> {
  const ref = parseDigestReference(reference);
  const found = await imagePlatforms(registry, ref, ref.digest);
  if (found === null) throw new Error(`manifest ${ref.digest} is not in ${ref.registry}/${ref.repository}`);
  const names = found.flatMap((p) => {
    const name = platformNameOf(p);
    return name === null ? [] : [name];
  });
  return [...new Set(names)];
}

// Whether an image a release names exists in its registry: HEAD of the manifest by digest (distribution API v2),
// with the full Accept list (asked only for OCI, distribution 2.8 answers with a schema1 manifest), and the
// anonymous bearer-token dance for registries that ask for one. Absent is final; unreachable is worth a retry.
import { MANIFEST_ACCEPT, parseChallenge } from '../../protocol/oci-image.js';
import { registryScheme, tlsFailureOf } from '../../lib/insecure-registries.js';

export type ImageCheck =
  | { kind: 'present' }
  /** The registry answered and the image is not there (or may not be read): retrying will not help. */
  | { kind: 'absent'; reason: string }
  /** No usable answer (refused, timeout, 5xx, 429): the same question may work later. */
  | { kind: 'unreachable'; reason: string };

export interface ImageReference {
  /** host[:port] as written, "docker.io" when the reference names none. */
  registry: string;
  repository: string;
  digest: string;
}

/** REGISTRY/REPO@sha256:HEX, or REPO@sha256:HEX on Docker Hub (docker's rule: a first part with . or : is a host). */
export function parseImageReference(reference: string): ImageReference {
  const match = /^([^@]+)@(sha256:[a-f0-9]{64})$/.exec(reference);
  if (!match) throw new Error(`'${reference}' is not a digest reference (NAME@sha256:HEX)`);
  const name = match[1]!;
  const digest = match[2]!;
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  if (slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    return { registry: first, repository: name.slice(slash + 1), digest };
  }
  return { registry: 'docker.io', repository: slash === -1 ? `library/${name}` : name, digest };
}

export interface ImageCheckOptions {
  /** host:port of registries spoken to over plain HTTP; loopback hosts always are (as Docker treats them). */
  insecureRegistries?: readonly string[];
  timeoutMs?: number;
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /**
   * A pull token the API issues itself for a registry whose token server it is (challenge service matches), so
   * releases in a registry with token auth verify; null falls back to the anonymous token dance.
   */
  tokenFor?: (repository: string, service: string | undefined) => string | null;
}

function baseUrlOf(registry: string, insecure: readonly string[]): string {
  if (registry === 'docker.io') return 'https://registry-1.docker.io';
  return `${registryScheme(registry, insecure)}://${registry}`;
}

function causeOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'no answer in time';
  const cause = (err as Error & { cause?: unknown }).cause;
  if (cause instanceof Error) return (cause as NodeJS.ErrnoException).code ?? cause.message;
  return err.message;
}

/** The parameters of a `Bearer realm="...",service="...",scope="..."` challenge; null for other schemes. */
function bearerChallenge(header: string | null): Record<string, string> | null {
  const challenge = header === null ? null : parseChallenge(header);
  return challenge?.scheme === 'bearer' && challenge.params.realm ? challenge.params : null;
}

export async function checkImage(reference: string, options: ImageCheckOptions = {}): Promise<ImageCheck> {
  const fetchFn = options.fetch ?? ((url, init) => fetch(url, init));
  const timeoutMs = options.timeoutMs ?? 15_000;
  const ref = parseImageReference(reference);
  const url = `${baseUrlOf(ref.registry, options.insecureRegistries ?? [])}/v2/${ref.repository}/manifests/${ref.digest}`;
  const where = `${ref.registry}/${ref.repository}`;

  const head = async (token: string | null): Promise<Response> =>
    fetchFn(url, {
      method: 'HEAD',
      headers: { accept: MANIFEST_ACCEPT, ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
      signal: AbortSignal.timeout(timeoutMs),
    });

  let response: Response;
  try {
    response = await head(null);
    const challenge = response.status === 401 ? bearerChallenge(response.headers.get('www-authenticate')) : null;
    const own = challenge ? (options.tokenFor?.(ref.repository, challenge.service) ?? null) : null;
    if (own !== null) {
      response = await head(own);
    } else if (challenge) {
      const tokenUrl = new URL(challenge.realm!);
      if (challenge.service) tokenUrl.searchParams.set('service', challenge.service);
      tokenUrl.searchParams.set('scope', `repository:${ref.repository}:pull`);
      const answer = await fetchFn(tokenUrl.toString(), { method: 'GET', signal: AbortSignal.timeout(timeoutMs) });
      if (answer.ok) {
        const body = (await answer.json()) as { token?: unknown; access_token?: unknown };
        const token =
          typeof body.token === 'string'
            ? body.token
            : typeof body.access_token === 'string'
              ? body.access_token
              : null;
        if (token !== null) response = await head(token);
      }
    }
  } catch (err) {
    return {
      kind: 'unreachable',
      reason: `registry ${ref.registry} did not answer HEAD ${url}: ${tlsFailureOf(err, ref.registry) ?? causeOf(err)}`,
    };
  }

  if (response.ok) {
    const served = response.headers.get('docker-content-digest');
    if (served !== null && served !== ref.digest) {
      return { kind: 'absent', reason: `registry ${ref.registry} served digest ${served} for ${where}@${ref.digest}` };
    }
    return { kind: 'present' };
  }
  if (response.status === 404)
    return { kind: 'absent', reason: `manifest ${ref.digest} is not in ${where} (HTTP 404)` };
  if (response.status === 401 || response.status === 403) {
    return {
      kind: 'absent',
      reason: `registry ${ref.registry} refused to show ${where} without credentials (HTTP ${response.status})`,
    };
  }
  if (response.status === 429 || response.status >= 500) {
    return {
      kind: 'unreachable',
      reason: `registry ${ref.registry} answered HTTP ${response.status} for ${where}@${ref.digest}`,
    };
  }
  return {
    kind: 'absent',
    reason: `registry ${ref.registry} answered HTTP ${response.status} for ${where}@${ref.digest}`,
  };
}

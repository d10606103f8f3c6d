// Which registries are spoken to without TLS. Loopback ones always are, as Docker Engine treats them; any other only
// when the operator lists it (SKIFF_INSECURE_REGISTRIES, on the API and on the device, like docker's
// `insecure-registries`): a registry on a LAN without a certificate is common, and speaking plain HTTP to one nobody
// chose would hand its images to whoever sits on the path. Both the API and the supervisor import this.

/** The host part of REGISTRY (host, host:port, [v6] or [v6]:port), without brackets and lowercased. */
function hostOf(registry: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(registry);
  if (bracketed !== null) return (bracketed[1] ?? '').toLowerCase();
  const colon = registry.indexOf(':');
  return (colon === -1 ? registry : registry.slice(0, colon)).toLowerCase();
}

/** localhost, 127.0.0.0/8 or ::1, with or without a port. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = hostOf(registry);
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Plain HTTP for loopback and listed registries (host[:port] as image references name them, any case), else TLS. */
export function registryScheme(registry: string, insecure: readonly string[]): 'http' | 'https' {
  const name = registry.toLowerCase();
  return isLoopbackRegistry(registry) || insecure.some((r) => r.toLowerCase() === name) ? 'http' : 'https';
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6 = /^[0-9a-f:.]+$/;

/** Why ENTRY is not host[:port]; null when it is. */
function problemOf(entry: string): string | null {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry))
    return 'has a scheme: give host:port only (a listed registry is spoken to over http://)';
  if (entry.includes('/')) {
    return /^[\d.]+\/\d+$/.test(entry)
      ? 'is a network: list each registry as host:port (networks are not supported)'
      : 'has a path: give host:port only';
  }
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(entry);
  if (match === null) return 'is not host[:port] (write an IPv6 address in brackets: [fd00::5]:5000)';
  const [, host = '', port] = match;
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535))
    return `has port '${port}', not 1-65535`;
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  const valid = host.startsWith('[')
    ? IPV6.test(bare) && bare.includes(':')
    : IPV4.test(bare) || (DNS_NAME.test(bare) && !/^[\d.]+$/.test(bare));
  return valid ? null : `has '${host}', which is not a host name or IP address`;
}

/**
 * A comma-separated list of registries (host or host:port, as image references name them) from the setting `name`;
 * blanks around entries and empty entries are ignored. Throws naming the first bad entry and what is wrong with it.
 */
export function parseInsecureRegistries(raw: string | undefined, name: string): string[] {
  const entries = (raw ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  entries.forEach((entry, i) => {
    const problem = problemOf(entry.toLowerCase());
    if (problem !== null) throw new Error(`${name}: entry ${i + 1} '${entry}' ${problem}`);
  });
  return [...new Set(entries.map((e) => e.toLowerCase()))];
}

function codeOf(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? code : '';
}

/**
 * When ERR (or one of its causes) is a failed TLS handshake or an untrusted certificate, says so in words with what
 * to do about it; null for any other failure. Node reports a plain-HTTP server answering a TLS hello as EPROTO
 * "wrong version number" (node:https) or ERR_SSL_WRONG_VERSION_NUMBER (fetch).
 */
export function tlsFailureOf(err: unknown, registry: string, setting = 'SKIFF_INSECURE_REGISTRIES'): string | null {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = codeOf(e);
    const detail = /:SSL routines:[^:]*:([^:]+)/.exec(e.message)?.[1] ?? e.message;
    if (/wrong version number|packet length too long/i.test(e.message) || code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
      return (
        `TLS handshake with registry ${registry} failed (${detail}): it seems to speak plain HTTP; ` +
        `if it is meant to, list it in ${setting}`
      );
    }
    if (/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_/.test(code)) {
      return (
        `TLS handshake with registry ${registry} failed: its certificate is not trusted (${code}: ${e.message}); ` +
        'give its CA to Node with NODE_EXTRA_CA_CERTS'
      );
    }
    if (code === 'EPROTO' || code.startsWith('ERR_SSL_'))
      return `TLS handshake with registry ${registry} failed (${code}: ${detail})`;
  }
  return null;
}

// The jump host and the SSH certificate authority, from registry-api's environment. Without SKIFF_JUMP_HOST there
// is no remote access: targets carry no tunnel and the routes answer 501, so an API that never set it up serves
// exactly what it served before.
import path from 'node:path';
import { publicKeyOf } from '../../lib/openssh-key.js';
import type { PortRange } from '../store/tunnels.js';

export interface JumpHost {
  host: string;
  port: number;
  user: string;
  /** "ssh-ed25519 AAAA...": the jump host's host key, which devices and operators check. */
  hostKey: string;
}

export interface RemoteAccessSettings {
  jumpHost: JumpHost;
  /** SKIFF_TUNNEL_PORTS: the ports on the jump host's loopback the API hands out, one per device. */
  ports: PortRange;
  /** SKIFF_JUMP_HOST_TOKEN: what the jump host's key commands authenticate with. */
  jumpHostToken: string;
  /** SKIFF_SSH_CA_KEY_FILE: the CA's private key (OpenSSH format); made on first start when missing. */
  caKeyFile: string;
  /** SKIFF_SSH_CERT_MINUTES: how long an operator's certificate is valid. */
  certificateMinutes: number;
}

export class RemoteAccessConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RemoteAccessConfigError';
  }
}

const MIN_TOKEN_LENGTH = 16;
export const DEFAULT_TUNNEL_PORTS: PortRange = { from: 20000, to: 29999 };
export const DEFAULT_CERTIFICATE_MINUTES = 5;
const MAX_CERTIFICATE_MINUTES = 60;

function shown(value: string): string {
  return JSON.stringify(value.slice(0, 80));
}

export function parsePortRange(text: string, name = 'SKIFF_TUNNEL_PORTS'): PortRange {
  const match = /^(\d{1,5})-(\d{1,5})$/.exec(text.trim());
  const from = Number(match?.[1]);
  const to = Number(match?.[2]);
  if (match === null || from < 1024 || to > 65535 || from > to)
    throw new RemoteAccessConfigError(
      `${name} ${shown(text)} is not a port range FROM-TO with 1024 <= FROM <= TO <= 65535, e.g. 20000-29999`,
    );
  return { from, to };
}

/** The settings, or null when SKIFF_JUMP_HOST is not set. */
export function remoteAccessFromEnv(env: NodeJS.ProcessEnv, dataDir: string): RemoteAccessSettings | null {
  const address = env.SKIFF_JUMP_HOST?.trim() || '';
  if (address === '') return null;
  const match = /^([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:]+\])(?::(\d{1,5}))?$/.exec(address);
  const port = Number(match?.[2] ?? '22');
  if (match === null || port < 1 || port > 65535)
    throw new RemoteAccessConfigError(
      `SKIFF_JUMP_HOST ${shown(address)} is not HOST or HOST:PORT (the jump host as devices reach it)`,
    );
  const host = (match[1] ?? '').replace(/^\[|\]$/g, '');
  const hostKey = publicKeyOf(env.SKIFF_JUMP_HOST_KEY ?? '');
  if (hostKey === null)
    throw new RemoteAccessConfigError(
      'SKIFF_JUMP_HOST_KEY must be the jump host\'s public host key, "ssh-ed25519 AAAA..." (its /etc/ssh/ssh_host_ed25519_key.pub)',
    );
  const user = env.SKIFF_JUMP_USER?.trim() || 'skiff';
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user))
    throw new RemoteAccessConfigError(`SKIFF_JUMP_USER ${shown(user)} is not a user name (a-z, 0-9, _ and -)`);
  const jumpHostToken = env.SKIFF_JUMP_HOST_TOKEN?.trim() || '';
  if (jumpHostToken.length < MIN_TOKEN_LENGTH)
    throw new RemoteAccessConfigError(
      `SKIFF_JUMP_HOST_TOKEN must be set, at least ${MIN_TOKEN_LENGTH} characters: the jump host's key commands ask the API with it`,
    );
  const minutesText = env.SKIFF_SSH_CERT_MINUTES?.trim() || String(DEFAULT_CERTIFICATE_MINUTES);
  const certificateMinutes = Number(minutesText);
  if (!/^\d+$/.test(minutesText) || certificateMinutes < 1 || certificateMinutes > MAX_CERTIFICATE_MINUTES)
    throw new RemoteAccessConfigError(
      `SKIFF_SSH_CERT_MINUTES ${shown(minutesText)} is not a whole number of minutes from 1 to ${MAX_CERTIFICATE_MINUTES}`,
    );
  const portsText = env.SKIFF_TUNNEL_PORTS?.trim();
  return {
    jumpHost: { host, port, user, hostKey },
    ports: portsText ? parsePortRange(portsText) : DEFAULT_TUNNEL_PORTS,
    jumpHostToken,
    caKeyFile: env.SKIFF_SSH_CA_KEY_FILE?.trim() || path.join(dataDir, 'ssh-ca-key'),
    certificateMinutes,
  };
}

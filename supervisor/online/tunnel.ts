// The device's side of its reverse SSH tunnel: it makes its own tunnel key (Ed25519, OpenSSH format, never leaves
// the device), registers the public half with the API, and writes what its signed target's `tunnel` says into the
// tunnel folder, which the tunnel service mounts (compose-templates/meter-fleet/tunnel): nobody types a port, a host
// or a host key. The same folder holds what the device's own sshd needs to let operators in with the API's
// short-lived certificates, for this device only:
//   TrustedUserCAKeys DIR/ssh_ca.pub
//   AuthorizedPrincipalsFile DIR/principals
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { backoffDelay, withJitter } from '../../lib/backoff.js';
import { messageOf } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import { newOpenSshKeyPair, publicKeyOf } from '../../lib/openssh-key.js';
import type { TunnelTarget } from '../../protocol/target-state.js';
import { writeFileAtomic } from '../device/atomic-file.js';
import { ApiError } from './api-client.js';

export const TUNNEL_FILES = {
  key: 'id_ed25519',
  publicKey: 'id_ed25519.pub',
  /** KEY=value lines tunnel.sh reads: TUNNEL_HOST, TUNNEL_PORT, TUNNEL_USER, TUNNEL_REMOTE_PORT. */
  settings: 'tunnel.env',
  knownHosts: 'known_hosts',
  caKeys: 'ssh_ca.pub',
  principals: 'principals',
} as const;

/** Retries of a registration the API could not take (away, 5xx): from a minute to an hour apart. */
const RETRY = { initialMs: 60_000, maxMs: 3_600_000 };
/** How often a device asks again an API that has no jump host: it may get one, and a day's one request is cheap. */
const NO_JUMP_HOST_RETRY_MS = 24 * 3_600_000;

export interface DeviceTunnelOptions {
  dir: string;
  uuid: string;
  register: (publicKey: string) => Promise<number | null>;
  log: Logger;
}

/** How a known_hosts line names a host on a port: bare on 22, [host]:port elsewhere. */
function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export class DeviceTunnel {
  private publicKey: string | null = null;
  private registered = false;
  private stopped = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private registering: Promise<void> | undefined;
  /** The tunnel last written, so an unchanged target writes nothing. */
  private written: string | null = null;

  constructor(private readonly options: DeviceTunnelOptions) {}

  /** Makes the key if the device has none yet, then registers it. */
  async start(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true, mode: 0o700 });
    this.publicKey = await this.keyOf();
    this.registerSoon(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async keyOf(): Promise<string> {
    const keyFile = path.join(this.options.dir, TUNNEL_FILES.key);
    const pubFile = path.join(this.options.dir, TUNNEL_FILES.publicKey);
    if (existsSync(keyFile) && existsSync(pubFile)) {
      const known = publicKeyOf(await readFile(pubFile, 'utf8'));
      if (known !== null) return known;
      this.options.log.warn({ file: pubFile }, 'the tunnel public key file holds no key: making a new key pair');
    }
    const pair = newOpenSshKeyPair(`skiff device ${this.options.uuid} tunnel`);
    await writeFileAtomic(keyFile, pair.privateKey, 0o600);
    await writeFileAtomic(pubFile, `${pair.publicKey} skiff-device-${this.options.uuid}\n`, 0o644);
    this.options.log.info({ file: keyFile }, 'tunnel key made');
    return pair.publicKey;
  }

  private registerSoon(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.registering ??= this.register().finally(() => {
        this.registering = undefined;
      });
    }, delayMs);
    this.timer.unref();
  }

  private async register(): Promise<void> {
    const publicKey = this.publicKey;
    if (publicKey === null || this.stopped) return;
    try {
      const port = await this.options.register(publicKey);
      this.attempt = 0;
      if (port === null) {
        this.options.log.info({ retryInMs: NO_JUMP_HOST_RETRY_MS }, 'the API has no jump host: no tunnel');
        this.registerSoon(NO_JUMP_HOST_RETRY_MS);
        return;
      }
      this.registered = true;
      this.options.log.info({ remotePort: port }, 'tunnel key registered');
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        // An API from before tunnels: nothing to ask until the supervisor starts again.
        this.options.log.info({ status: err.status }, 'the API offers no tunnel');
        return;
      }
      this.attempt++;
      const delay = withJitter(backoffDelay(this.attempt, RETRY), 0.2);
      this.options.log.warn({ err: messageOf(err), retryInMs: delay }, 'cannot register the tunnel key');
      this.registerSoon(delay);
    }
  }

  /** Writes what the accepted target says about the tunnel; without one, the tunnel service has nothing to run. */
  async apply(tunnel: TunnelTarget | undefined): Promise<void> {
    const shape = tunnel === undefined ? null : JSON.stringify(tunnel);
    if (shape === this.written) return;
    const { dir } = this.options;
    if (tunnel === undefined) {
      await rm(path.join(dir, TUNNEL_FILES.settings), { force: true });
      this.written = null;
      // The API forgot the key (the device was revoked and accepted again, or the jump host changed): once more.
      if (this.registered) {
        this.registered = false;
        this.registerSoon(0);
      }
      return;
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // Values come from a signed, schema-checked target: the patterns allow no quote, space or newline.
    await writeFileAtomic(
      path.join(dir, TUNNEL_FILES.settings),
      [
        `TUNNEL_HOST=${tunnel.host}`,
        `TUNNEL_PORT=${tunnel.port}`,
        `TUNNEL_USER=${tunnel.user}`,
        `TUNNEL_REMOTE_PORT=${tunnel.remotePort}`,
        '',
      ].join('\n'),
      0o644,
    );
    await writeFileAtomic(
      path.join(dir, TUNNEL_FILES.knownHosts),
      `${knownHostName(tunnel.host, tunnel.port)} ${tunnel.hostKey}\n`,
      0o644,
    );
    await writeFileAtomic(path.join(dir, TUNNEL_FILES.caKeys), `${tunnel.caPublicKey}\n`, 0o644);
    await writeFileAtomic(path.join(dir, TUNNEL_FILES.principals), `${tunnel.principal}\n`, 0o644);
    this.written = shape;
    this.options.log.info(
      { jumpHost: `${tunnel.host}:${tunnel.port}`, remotePort: tunnel.remotePort },
      'tunnel settings written',
    );
  }
}

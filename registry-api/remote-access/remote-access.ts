// Remote access as the API holds it: the settings, the SSH CA, and what follows from the store: a device's tunnel
// in its target, the jump host's answers about keys and certificates, and freeing the port of a device that is
// revoked or rejected (heard from the store's committed changes, so every way a device loses its admission frees it).
import type { Logger } from '../../lib/logger.js';
import type { TunnelTarget } from '../../protocol/target-state.js';
import type { DeviceRecord, Store } from '../store/index.js';
import type { RemoteAccessSettings } from './settings.js';
import type { SshCa } from './ssh-ca.js';

/** The principal a device's sshd accepts certificates for: the device's own, no other device's. */
export function principalOf(uuid: string): string {
  return `skiff-device-${uuid}`;
}

/** Only these forward through a tunnel's port: the jump host's loopback, never an address others reach. */
export const TUNNEL_BIND = '127.0.0.1';

export class RemoteAccess {
  private readonly unsubscribe: () => void;

  constructor(
    readonly settings: RemoteAccessSettings,
    readonly ca: SshCa,
    private readonly store: Pick<Store, 'tunnels' | 'changes'>,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.unsubscribe = store.changes.subscribe(async (changes) => {
      for (const change of changes) {
        if (change.kind !== 'device') continue;
        await this.freeIfGone(change.uuid).catch((err: unknown) =>
          this.logger.warn({ err, uuid: change.uuid }, 'cannot free the tunnel port of a device no longer accepted'),
        );
      }
    });
  }

  close(): void {
    this.unsubscribe();
  }

  private async freeIfGone(uuid: string): Promise<void> {
    const tunnel = await this.store.tunnels.of(uuid);
    if (tunnel === null || tunnel.accepted) return;
    const port = await this.store.tunnels.releaseIfNotAccepted(uuid, { actor: 'system', at: this.now().toISOString() });
    if (port !== null) this.logger.info({ uuid, port }, 'tunnel port freed: the device is no longer accepted');
  }

  /** The tunnel part of the device's target; null while it has registered no key. */
  async targetOf(device: Pick<DeviceRecord, 'uuid'>): Promise<TunnelTarget | null> {
    const tunnel = await this.store.tunnels.of(device.uuid);
    if (tunnel === null || !tunnel.accepted) return null;
    const { jumpHost } = this.settings;
    return {
      host: jumpHost.host,
      port: jumpHost.port,
      user: jumpHost.user,
      hostKey: jumpHost.hostKey,
      remotePort: tunnel.port,
      caPublicKey: this.ca.publicKey,
      principal: principalOf(device.uuid),
    };
  }

  /**
   * The jump host's AuthorizedKeysCommand answer for `TYPE BASE64` presented by `user`: an accepted device's
   * tunnel key may hold a remote forward on its own port and nothing else (no shell, no other forward); anything
   * else gets no line, so sshd refuses it. An authorized_keys line cannot forbid local forwards with port-forwarding
   * on ("none" is no valid permitopen there), so they are held to the same port: the device's own forward.
   */
  async authorizedKeys(user: string, type: string, key: string): Promise<string> {
    if (user !== this.settings.jumpHost.user) return '';
    const publicKey = `${type} ${key}`;
    const tunnel = await this.store.tunnels.byKey(publicKey);
    if (tunnel === null || !tunnel.accepted) return '';
    return `restrict,port-forwarding,permitlisten="${TUNNEL_BIND}:${tunnel.port}",permitopen="${TUNNEL_BIND}:${tunnel.port}",command="/bin/false" ${publicKey}\n`;
  }

  /**
   * The jump host's AuthorizedPrincipalsCommand answer for the certificate with key id `keyId` (sshd checked the
   * CA's signature and the validity already): while its session is live and its device accepted with a tunnel,
   * its principal, allowed only to open a connection to that device's port (and, as above, to listen on nothing
   * else: while the device's tunnel holds the port, not even there).
   */
  async authorizedPrincipals(user: string, keyId: string): Promise<string> {
    if (user !== this.settings.jumpHost.user) return '';
    const session = await this.store.tunnels.session(keyId);
    if (session === null || !session.accepted || session.port === null) return '';
    if (Date.parse(session.validBefore) <= this.now().getTime()) return '';
    return `restrict,port-forwarding,permitopen="${TUNNEL_BIND}:${session.port}",permitlisten="${TUNNEL_BIND}:${session.port}",command="/bin/false" ${session.principal}\n`;
  }
}

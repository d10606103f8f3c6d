// The open push channels of this API instance, counted per device and in total, so one device (or one stolen
// token) cannot hold every connection the process can take. A device's new channel replaces its oldest one beyond
// the per-device limit instead of being refused: a supervisor only opens a new channel once it has given up on the
// old one (a reconnect after a network change leaves the old one half-open until TCP notices), so the newest is the
// one it listens to. Past the total, new channels are refused with 503: devices fall back to polling meanwhile.

/**
 * A supervisor holds one channel; the second covers a reconnect while the old one is still half-open. More from
 * one device can only be a fault or a flood.
 */
export const MAX_PUSH_CHANNELS_PER_DEVICE = 2;
/**
 * Each channel is a socket (a file descriptor) and a heartbeat timer; 10,000 stays well below the descriptor limit
 * a service is given (systemd's default LimitNOFILE is 524,288; raise `ulimit -n` above this where it is 1,024),
 * leaving room for the polls, reports and people's requests that must go on being served. SKIFF_MAX_PUSH_CHANNELS.
 */
export const DEFAULT_MAX_PUSH_CHANNELS = 10_000;
/**
 * A channel is ended after a day: the supervisor reconnects at once (it held long enough to reset its backoff),
 * so this costs a TLS handshake and a poll a day per device (some 5 kB, 150 kB a month: an hour would be 3.6 MB)
 * and bounds how long a channel outlives what was checked when it opened (the token's expiry; a revoked or
 * deleted device's channel is ended at once by the target watch).
 */
export const PUSH_CHANNEL_MAX_AGE_MS = 24 * 60 * 60 * 1000;
/**
 * While a device holds a channel it sends nothing, but is there: the API notes it as seen this often (in memory,
 * batched to the database), so online and offline follow the channel and not the age of the last poll.
 */
export const PUSH_CHANNEL_SEEN_INTERVAL_MS = 30_000;
/**
 * Events are a few hundred bytes and heartbeats a dozen: a channel with more than this waiting unsent has a peer
 * that stopped reading, and its buffer would otherwise grow in the API's memory until TCP gives up.
 */
export const PUSH_CHANNEL_MAX_BUFFERED_BYTES = 256 * 1024;

export interface PushChannelLimits {
  perDevice: number;
  total: number;
}

interface Channel {
  /** Ends the channel (the device sees its stream end and reconnects). */
  close: () => void;
  /** Whether the token the channel was opened with is still live (a key rotation or a re-auth retires tokens). */
  live?: () => Promise<boolean>;
}

export class PushChannels {
  private readonly byDevice = new Map<string, Channel[]>();
  private open = 0;

  constructor(readonly limits: PushChannelLimits) {
    if (!Number.isInteger(limits.perDevice) || limits.perDevice < 1)
      throw new Error(`the push channel limit per device must be a positive integer, got ${limits.perDevice}`);
    if (!Number.isInteger(limits.total) || limits.total < 1)
      throw new Error(`the push channel limit must be a positive integer, got ${limits.total}`);
  }

  get size(): number {
    return this.open;
  }

  /** The devices that hold at least one channel open here. */
  devices(): IterableIterator<string> {
    return this.byDevice.keys();
  }

  /** How many channels device `uuid` holds open here. */
  of(uuid: string): number {
    return this.byDevice.get(uuid)?.length ?? 0;
  }

  /**
   * Takes a place for a new channel of device `uuid`, ending its oldest ones beyond the per-device limit; null when
   * the total is reached and the device has none to give up. release() gives the place back (idempotent).
   */
  admit(uuid: string, close: () => void, live?: () => Promise<boolean>): { release: () => void } | null {
    const mine = this.byDevice.get(uuid) ?? [];
    if (mine.length < this.limits.perDevice && this.open >= this.limits.total) return null;
    const channel: Channel = { close, live };
    // Closing runs the old channel's release(), which takes it out of `mine`.
    while (mine.length >= this.limits.perDevice) {
      const oldest = mine[0];
      if (oldest === undefined) break;
      this.remove(uuid, oldest);
      oldest.close();
    }
    mine.push(channel);
    this.byDevice.set(uuid, mine);
    this.open += 1;
    return { release: () => this.remove(uuid, channel) };
  }

  /**
   * Ends the channels of the devices `uuids` (every device's, with 'all') whose token is no longer live: a channel
   * must not outlive the token it was opened with. Called when a device changed (its key, tokens or admission);
   * checked one by one, so a recheck of every channel does not flood the database. Resolves what it ended.
   */
  async recheck(uuids: Iterable<string> | 'all'): Promise<number> {
    const devices = uuids === 'all' ? [...this.byDevice.keys()] : [...uuids];
    let ended = 0;
    for (const uuid of devices) {
      for (const channel of [...(this.byDevice.get(uuid) ?? [])]) {
        if (channel.live === undefined || (await channel.live())) continue;
        this.remove(uuid, channel);
        channel.close();
        ended += 1;
      }
    }
    return ended;
  }

  private remove(uuid: string, channel: Channel): void {
    const mine = this.byDevice.get(uuid);
    const at = mine?.indexOf(channel) ?? -1;
    if (mine === undefined || at < 0) return;
    mine.splice(at, 1);
    this.open -= 1;
    if (mine.length === 0) this.byDevice.delete(uuid);
  }
}

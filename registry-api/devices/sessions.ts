// Device sessions kept in memory for the target poll: bearer token -> the device, its target generation and when
// the token expires, as the database answered the first poll with that token. A plain 304 poll is then answered
// without touching the database or hashing the token. Correctness comes from the invalidation bus
// (../fleet/invalidation.ts): every committed change to a device's tokens, admission or target, and every fleet-wide target
// change, drops the sessions concerned on every instance before the change is answered, so the next poll reads the
// database again.
// - Revoke, reject, key rotation: dropped at once through the bus. A reconnect to Redis drops every session
//   (messages may have been missed meanwhile). Only a PUBLISH that failed outright (logged as an error) leaves the
//   other instances to SAFETY_TTL_MS: every session is read again after it anyway. It is longer than a poll
//   interval (60 s by default) on purpose: a bound shorter than the interval would make nearly every real poll
//   read the database.
// - Fail closed: while the bus cannot confirm it is current (Redis does not answer: ../redis-channel.ts), no kept
//   session is trusted and none is kept: every poll reads the token from the database, so a revoke or rotation made
//   through another instance is refused here even though its message cannot arrive.
// - Expiry is checked in memory against the token's own expiresAt.
// Keyed by the token itself, not its hash: the process holds every token it is sent anyway, and not hashing is
// most of what makes a cached poll cheap. Nothing here is ever written anywhere.
import type { Invalidation, InvalidationBus } from '../fleet/invalidation.js';
import { hashSecret } from '../keys/secrets.js';
import type { DeviceSession, Store } from '../store/index.js';

/** How long a session is trusted without hearing of a change: the bound if a bus message is lost. */
export const SAFETY_TTL_MS = 5 * 60_000;

export interface DeviceSessionsOptions {
  store: Pick<Store, 'devices'>;
  bus: InvalidationBus;
  now: () => Date;
  ttlMs?: number;
  /** Sessions kept at most; beyond that the oldest go (default 200,000). */
  maxSessions?: number;
}

interface Entry {
  session: DeviceSession;
  expiresAtMs: number;
  trustedUntilMs: number;
}

export class DeviceSessions {
  private readonly byToken = new Map<string, Entry>();
  private readonly tokensOf = new Map<string, Set<string>>();
  /** Moves on every change heard: a read that started before one is used, but not kept. */
  private epoch = 0;
  private readonly ttlMs: number;
  private readonly maxSessions: number;

  constructor(private readonly options: DeviceSessionsOptions) {
    this.ttlMs = options.ttlMs ?? SAFETY_TTL_MS;
    this.maxSessions = options.maxSessions ?? 200_000;
    options.bus.subscribe((changes) => this.drop(changes));
  }

  get size(): number {
    return this.byToken.size;
  }

  /** The session of `token` kept in memory and still live at `nowMs`; null if there is none (find reads it). */
  kept(token: string, nowMs: number): DeviceSession | null {
    if (!this.options.bus.current()) return null;
    const known = this.byToken.get(token);
    if (known === undefined) return null;
    if (nowMs < known.expiresAtMs && nowMs < known.trustedUntilMs) return known.session;
    this.forget(token, known.session.device.uuid);
    return null;
  }

  /** The live session of `token` (from memory, or read and kept); null for an unknown or expired token. */
  async find(token: string): Promise<DeviceSession | null> {
    const nowMs = this.options.now().getTime();
    const known = this.kept(token, nowMs);
    if (known !== null) return known;
    const epoch = this.epoch;
    const found = await this.options.store.devices.byTokenWithGeneration(
      hashSecret(token),
      new Date(nowMs).toISOString(),
    );
    if (found !== null && epoch === this.epoch && this.options.bus.current()) this.keep(token, found, nowMs);
    return found;
  }

  private keep(token: string, session: DeviceSession, nowMs: number): void {
    const uuid = session.device.uuid;
    this.byToken.set(token, {
      session,
      expiresAtMs: Date.parse(session.tokenExpiresAt),
      trustedUntilMs: nowMs + this.ttlMs,
    });
    let tokens = this.tokensOf.get(uuid);
    if (tokens === undefined) this.tokensOf.set(uuid, (tokens = new Set()));
    tokens.add(token);
    if (this.byToken.size > this.maxSessions) {
      const [oldest, entry] = this.byToken.entries().next().value ?? [];
      if (oldest !== undefined && entry !== undefined) this.forget(oldest, entry.session.device.uuid);
    }
  }

  private forget(token: string, uuid: string): void {
    this.byToken.delete(token);
    const tokens = this.tokensOf.get(uuid);
    tokens?.delete(token);
    if (tokens?.size === 0) this.tokensOf.delete(uuid);
  }

  private drop(changes: readonly Invalidation[]): void {
    this.epoch += 1;
    const fleets = new Set<string>();
    for (const change of changes) {
      if (change.kind === 'everything') {
        this.byToken.clear();
        this.tokensOf.clear();
        return;
      }
      if (change.kind === 'device') {
        for (const token of this.tokensOf.get(change.uuid) ?? []) this.byToken.delete(token);
        this.tokensOf.delete(change.uuid);
      } else {
        fleets.add(change.name);
      }
    }
    if (fleets.size === 0) return;
    // A fleet-wide change is rare (a release, a fleet setting): one pass over the sessions is fine.
    for (const [token, entry] of this.byToken) {
      if (fleets.has(entry.session.device.fleet)) this.forget(token, entry.session.device.uuid);
    }
  }
}

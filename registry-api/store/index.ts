// What the API keeps, and the one interface it is kept behind. Routes see only this: SQLite today
// (store/sqlite.ts), PostgreSQL later, without a route changing. Methods are async for that reason even though
// SQLite answers synchronously.
import type { AuditEntry, Role } from '../../protocol/access.js';
import type { ReleasePolicy } from '../../protocol/api.js';
import type { StateReport } from '../../protocol/state-report.js';
import type { ServiceSpec } from '../../protocol/target-state.js';

export interface FleetRecord {
  name: string;
  deviceType: string;
  provisioningKey: string;
  policy: ReleasePolicy;
  pollIntervalSeconds: number;
  createdAt: string;
}

export type ReleaseStatus = 'pending' | 'ready' | 'failed';

export interface ReleaseRecord {
  id: string;
  fleet: string;
  version: string;
  status: ReleaseStatus;
  /** The compose file as it was pushed, for people; devices get `services`. */
  compose: string;
  services: ServiceSpec[];
  volumes: string[];
  networks: string[];
  /** Service name to the digest reference it runs. */
  images: Record<string, string>;
  notes: string | null;
  createdAt: string;
}

export interface DeviceRecord {
  uuid: string;
  name: string;
  fleet: string;
  deviceType: string;
  /** sha256 of the device key; the key itself is never stored. */
  keyHash: string;
  /** A release this one device runs whatever its fleet's policy says. */
  pinnedReleaseId: string | null;
  createdAt: string;
  lastSeen: string | null;
  /** Set: its key opens nothing and it cannot register again until accepted. */
  revokedAt: string | null;
  note: string | null;
  tags: string[];
}

export interface DeviceView extends DeviceRecord {
  lastReport: StateReport | null;
}

/** A write that would break a uniqueness rule: a fleet name, a release version, a device's fleet. */
export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

/**
 * Who made a change and when. Every store method that changes what devices run or who may act takes one and
 * writes the audit entry in the same transaction as the change: no change without its entry, no entry without it.
 */
export interface Stamp {
  /** A user's name, or 'system' for what the API does by itself. */
  actor: string;
  at: string;
}

export interface NewFleet {
  name: string;
  deviceType: string;
  provisioningKey: string;
  pollIntervalSeconds: number;
  createdAt: string;
}

export interface FleetStore {
  /** Throws ConflictError if the name is taken. */
  create(fleet: NewFleet, stamp: Stamp): Promise<FleetRecord>;
  get(name: string): Promise<FleetRecord | null>;
  list(): Promise<FleetRecord[]>;
  setPolicy(name: string, policy: ReleasePolicy, stamp: Stamp): Promise<FleetRecord | null>;
}

export interface NewRelease {
  fleet: string;
  /** Absent: the next whole number after the fleet's highest numeric version ("1", "2", ...). */
  version?: string;
  status: ReleaseStatus;
  compose: string;
  services: ServiceSpec[];
  volumes: string[];
  networks: string[];
  images: Record<string, string>;
  notes: string | null;
  createdAt: string;
}

export interface ReleaseStore {
  /** Throws ConflictError if the fleet has that version already. */
  create(release: NewRelease, stamp: Stamp): Promise<ReleaseRecord>;
  get(id: string): Promise<ReleaseRecord | null>;
  /** By id, else by version, within one fleet. */
  find(fleet: string, idOrVersion: string): Promise<ReleaseRecord | null>;
  latestReady(fleet: string): Promise<ReleaseRecord | null>;
  /** Newest first. */
  list(fleet: string): Promise<ReleaseRecord[]>;
}

export interface Registration {
  uuid: string;
  /** Absent keeps the current name of a known device, or names a new one after its uuid. */
  name?: string;
  fleet: string;
  deviceType: string;
  keyHash: string;
  at: string;
}

export interface DeviceChange {
  name?: string;
  note?: string | null;
  tags?: string[];
}

export interface DeviceStore {
  /**
   * Creates the device, or, for a uuid already registered in the same fleet, replaces its key (the old one stops
   * working). Throws ConflictError if the uuid belongs to another fleet or was revoked. Audited as the device.
   */
  register(registration: Registration): Promise<{ device: DeviceRecord; created: boolean }>;
  /** Pins the device to a release of its fleet, or (null) lets it follow its fleet again. Null if no such device. */
  setPin(uuid: string, releaseId: string | null, stamp: Stamp): Promise<DeviceRecord | null>;
  /** Idempotent: a second revoke keeps the first time and writes no entry. */
  revoke(uuid: string, stamp: Stamp): Promise<DeviceRecord | null>;
  /** Lifts a revocation and kills the old key, so the device must register again. Idempotent. */
  accept(uuid: string, stamp: Stamp): Promise<DeviceRecord | null>;
  update(uuid: string, change: DeviceChange, stamp: Stamp): Promise<DeviceRecord | null>;
  byKeyHash(keyHash: string): Promise<DeviceRecord | null>;
  get(uuid: string): Promise<DeviceView | null>;
  list(fleet?: string): Promise<DeviceView[]>;
  touch(uuid: string, at: string): Promise<void>;
  /** Keeps only the latest report; also counts as the device being seen. */
  saveReport(uuid: string, report: StateReport, at: string): Promise<void>;
}

export interface UserRecord {
  name: string;
  role: Role;
  createdAt: string;
}

export interface TokenRecord {
  id: string;
  user: string;
  label: string | null;
  /** The token main.ts gets from SKIFF_ADMIN_TOKEN or the admin-token file. */
  bootstrap: boolean;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface NewToken {
  /** sha256 of the secret; the secret itself is never stored. */
  hash: string;
  label: string | null;
}

/** What became of the bootstrap token at start. */
export type BootstrapOutcome =
  | { kind: 'registered'; user: string; replaced: number }
  | { kind: 'known'; user: string }
  /** Someone revoked it through the API: it stays revoked, a new admin-token file brings a new one. */
  | { kind: 'revoked'; user: string; revokedAt: string };

export interface UserStore {
  /** Throws ConflictError if the name is taken. */
  create(user: UserRecord, stamp: Stamp): Promise<UserRecord>;
  get(name: string): Promise<UserRecord | null>;
  list(): Promise<UserRecord[]>;
  /** The token with this hash and its user, revoked or not; notes the use (at most once a minute). */
  authenticate(tokenHash: string, at: string): Promise<{ user: UserRecord; token: TokenRecord } | null>;
  /** Null if there is no such user. */
  createToken(user: string, token: NewToken, stamp: Stamp): Promise<TokenRecord | null>;
  tokens(user: string): Promise<TokenRecord[]>;
  /** Idempotent; null if the user has no token with that id. */
  revokeToken(user: string, tokenId: string, stamp: Stamp): Promise<TokenRecord | null>;
  /**
   * Makes the bootstrap token a token of the first admin ('admin', created if there is no user yet), replacing an
   * earlier bootstrap token (SKIFF_ADMIN_TOKEN changed): existing deployments keep working with their token.
   */
  bootstrapAdmin(tokenHash: string, at: string): Promise<BootstrapOutcome>;
}

export interface AuditQuery {
  fleet?: string;
  device?: string;
  /** Only entries with a smaller id: the next page. */
  before?: number;
  limit: number;
}

export interface AuditStore {
  /** Newest first. */
  list(query: AuditQuery): Promise<AuditEntry[]>;
}

export interface Store {
  readonly fleets: FleetStore;
  readonly releases: ReleaseStore;
  readonly devices: DeviceStore;
  readonly users: UserStore;
  readonly audit: AuditStore;
  close(): Promise<void>;
}

// What the API keeps, and the one interface it is kept behind. Routes see only this; store/open.ts implements it
// once, over the query layer in store/sql/, for SQLite (embedded, the default) and PostgreSQL alike.
import type { TunnelStore } from './tunnels.js';
import type { AuditEntry, FleetRole, FleetRoles, Role } from '../../protocol/access.js';
import type { ReleasePolicy, ReleaseVerification } from '../../protocol/api.js';
import type {
  ConfigVars,
  DeviceSettingsChange,
  FleetSettingsChange,
  ServiceVars,
  Settings,
} from '../../protocol/fleet-config.js';
import type { DeviceAuthStatus } from '../../protocol/device-auth.js';
import type { ReleaseSignature, SignedKeySet } from '../../protocol/release-signature.js';
import type { ApprovalState, FleetReview, FleetReviewChange, ReleaseReview } from '../../protocol/release-review.js';
import type { StateReport } from '../../protocol/state-report.js';
import type { NetworkDefinition, ServiceSpec, VolumeDefinition } from '../../protocol/target-state.js';
import type { TargetChanges, TargetGeneration } from './target-generation.js';
import type { DeviceActionStore } from './device-actions.js';
import type { TrafficStore } from './traffic.js';
import type { BulkStore } from './device-bulk.js';
import type { DeviceGroupStore } from './device-groups.js';
import type { LifecycleStore } from './lifecycle.js';
import type { RolloutStore } from '../rollouts/store.js';
import type { MetricsStore } from './metrics.js';
import type { PresenceStore } from './presence.js';
import type { WebhookStore } from './webhooks.js';

export type { TargetChange, TargetChanges, TargetGeneration } from './target-generation.js';
export type { BulkStore, DeviceGroupStore, LifecycleStore };

export interface FleetRecord {
  name: string;
  /** What the fleet was created with first (host OS releases are filed under it). */
  deviceType: string;
  /** The device types it admits (protocol/device-types.ts), at least one. */
  deviceTypes: string[];
  policy: ReleasePolicy;
  pollIntervalSeconds: number;
  /** What the fleet sets besides its poll interval; absent fields take the defaults. */
  settings: Settings;
  /** When its releases need approval, which host paths they may bind without it. */
  review: FleetReview;
  createdAt: string;
  /** Set: archived, it takes no new devices or releases; its devices keep running. */
  archivedAt: string | null;
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
  /** Declared networks and volumes that set more than their name; absent when none does. */
  networkDefinitions?: Record<string, NetworkDefinition>;
  volumeDefinitions?: Record<string, VolumeDefinition>;
  /** Service name to the digest reference it runs. */
  images: Record<string, string>;
  notes: string | null;
  createdAt: string;
  /** The user who pushed it (the stamp's actor); null for releases from before this was recorded. */
  pushedBy: string | null;
  /** Null while pending, and for releases from before verification. */
  verification: ReleaseVerification | null;
  /** Service name to the image reference as the compose file wrote it (a tag), where the push copied the image. */
  sources: Record<string, string>;
  /** Null for releases from before content hashes were kept. */
  contentHash: string | null;
  /** The developer's signature of its content (protocol/release-signature.ts); null when pushed unsigned. */
  signature: ReleaseSignature | null;
  /** Its host privileges and the approval devices wait for (protocol/release-review.ts). */
  review: ReleaseReview;
  /** The platforms every image has (linux/arm64, ...); null while pending or not read (releases from before). */
  platforms: string[] | null;
}

export interface DeviceRecord {
  uuid: string;
  /** 8 characters of Crockford base32, unique (registry-api/devices/short-id.ts). */
  shortId: string;
  name: string;
  fleet: string;
  deviceType: string;
  /** The platform it reported when it registered (linux/arm64, ...); null: it never said. */
  platform: string | null;
  /** The device's Ed25519 public key (base64 SPKI DER): its identity. Null for a device from before device keys. */
  publicKey: string | null;
  authStatus: DeviceAuthStatus;
  /** A release this one device runs whatever its fleet's policy says. */
  pinnedReleaseId: string | null;
  createdAt: string;
  lastSeen: string | null;
  /** Set: it is rejected, its tokens are gone, and it stays out until an operator accepts it. */
  revokedAt: string | null;
  note: string | null;
  tags: string[];
  /** Who has the box and where it hangs, as the installer commissioned it; null: not said. */
  customer: string | null;
  site: string | null;
  address: string | null;
  /** The serial of the meter it was commissioned to read (the DSMR equipment identifier). */
  meterSerial: string | null;
}

/** A device with the target generation its row and its fleet's row carry now (store/target-generation.ts). */
export interface DeviceWithGeneration {
  device: DeviceRecord;
  generation: TargetGeneration;
}

/** A device as its token finds it: with its target generation and when that token expires. */
export interface DeviceSession extends DeviceWithGeneration {
  tokenExpiresAt: string;
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
  /** The first of deviceTypes. */
  deviceType: string;
  deviceTypes: string[];
  /** sha256 of the fleet's first provisioning key, made with it (its secret is shown once, by the route). */
  provisioningKeyHash: string;
  pollIntervalSeconds: number;
  createdAt: string;
}

export interface ProvisioningKeyRecord {
  id: string;
  fleet: string;
  label: string | null;
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

export interface NewProvisioningKey {
  fleet: string;
  /** sha256 of the secret; the secret itself is never stored. */
  hash: string;
  label: string | null;
  createdAt: string;
  expiresAt: string | null;
}

export interface ProvisioningKeyStore {
  /** Oldest first, revoked and expired ones too. */
  list(fleet: string): Promise<ProvisioningKeyRecord[]>;
  /** Null if there is no such fleet. */
  create(key: NewProvisioningKey, stamp: Stamp): Promise<ProvisioningKeyRecord | null>;
  /** Idempotent (a second revoke keeps the first time); null if the fleet has no key with that id. */
  revoke(fleet: string, id: string, stamp: Stamp): Promise<ProvisioningKeyRecord | null>;
  /** The fleet's key with this hash, whatever its state: admission.ts decides. */
  byHash(fleet: string, hash: string): Promise<ProvisioningKeyRecord | null>;
}

export interface FleetStore {
  /** Throws ConflictError if the name is taken. */
  create(fleet: NewFleet, stamp: Stamp): Promise<FleetRecord>;
  get(name: string): Promise<FleetRecord | null>;
  list(): Promise<FleetRecord[]>;
  setPolicy(name: string, policy: ReleasePolicy, stamp: Stamp): Promise<FleetRecord | null>;
  /** Replaces the given fields (null values too: they mean "none"); null if no such fleet. */
  updateSettings(name: string, change: FleetSettingsChange, stamp: Stamp): Promise<FleetRecord | null>;
  /** Replaces the given review rules; null if no such fleet. */
  setReview(name: string, change: FleetReviewChange, stamp: Stamp): Promise<FleetRecord | null>;
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
  /** Declared networks and volumes that set more than their name; absent when none does. */
  networkDefinitions?: Record<string, NetworkDefinition>;
  volumeDefinitions?: Record<string, VolumeDefinition>;
  images: Record<string, string>;
  notes: string | null;
  createdAt: string;
  /** Service name to the image reference the compose file wrote, for images copied into the fleet's registry. */
  sources?: Record<string, string>;
  /** sha256 of the normalised release (services with their digests, volumes, networks): what "unchanged" compares. */
  contentHash?: string;
  /** Absent: pushed unsigned. */
  signature?: ReleaseSignature;
  /** Why it asks for host privileges and whether it waits for approval; absent: no reasons, none needed. */
  review?: { approval: ApprovalState; reasons: string[] };
}

/** An operator's decision on a release held for review. */
export type ReviewDecision = 'approved' | 'rejected';

export interface ReleaseStore {
  /** Throws ConflictError if the fleet has that version already. */
  create(release: NewRelease, stamp: Stamp): Promise<ReleaseRecord>;
  get(id: string): Promise<ReleaseRecord | null>;
  /**
   * By id, else by version, else by a unique prefix of its id (at least 4 characters), within one fleet. Throws
   * ConflictError, naming them, when a prefix fits several releases.
   */
  find(fleet: string, idOrVersion: string): Promise<ReleaseRecord | null>;
  /** The newest release devices may run: ready, and approved or needing no approval. */
  latestReady(fleet: string): Promise<ReleaseRecord | null>;
  /** The fleet's newest release, whatever its status. */
  latest(fleet: string): Promise<ReleaseRecord | null>;
  /** The newest ready release with an image for `platform` (or whose platforms were never read). */
  latestReadyFor(fleet: string, platform: string): Promise<ReleaseRecord | null>;
  /** Newest first. */
  list(fleet: string): Promise<ReleaseRecord[]>;
  /**
   * Settles a pending release: ready when the verification found no failure, else failed. A release that is no
   * longer pending is left as it is (a second verification of the same release); null if there is no such release.
   */
  /** `platforms`: what every image of a release found ready was found to have; null when they could not be read. */
  settle(
    id: string,
    verification: ReleaseVerification,
    stamp: Stamp,
    platforms?: string[] | null,
  ): Promise<ReleaseRecord | null>;
  /** Every pending release of every fleet, oldest first: what verification still owes. */
  pending(): Promise<ReleaseRecord[]>;
  /**
   * Approves or rejects a release that waits for approval, audited with the note. Throws ConflictError when it is
   * not waiting (decided already, or never held); null if the fleet has no such release.
   */
  decide(
    fleet: string,
    id: string,
    decision: ReviewDecision,
    note: string | null,
    stamp: Stamp,
  ): Promise<ReleaseRecord | null>;
  countByStatus(): Promise<Record<ReleaseStatus, number>>;
}

/** The release keys each fleet trusts, as the signed key-set document admins replace as a whole. */
export interface ReleaseKeyStore {
  /** Null while the fleet trusts no release key (and so takes unsigned releases). */
  get(fleet: string): Promise<SignedKeySet | null>;
  /**
   * Stores `next` as the fleet's set if the set stored now has version `next.document.version - 1` (none: 0);
   * the caller has checked the signature. Throws ConflictError when another change came first.
   */
  replace(fleet: string, next: SignedKeySet, stamp: Stamp): Promise<SignedKeySet>;
}

/** Where config vars live: on a fleet, or on one device (which wins). */
/** A fleet's or a device's vars: those of every service, or (`service`) those scoped to one service. */
export type ConfigScope = ({ fleet: string } | { device: string }) & { service?: string };

export interface ConfigStore {
  /** The scope's own vars, by name. */
  vars(scope: ConfigScope): Promise<ConfigVars>;
  /** The fleet's or device's vars scoped to a service, by service then name. */
  serviceVars(scope: { fleet: string } | { device: string }): Promise<ServiceVars>;
  /** Creates or replaces; audited only when the value changes. */
  setVar(scope: ConfigScope, name: string, value: string, stamp: Stamp): Promise<void>;
  /** False when the scope had no such var. */
  unsetVar(scope: ConfigScope, name: string, stamp: Stamp): Promise<boolean>;
  /** What the device overrides of its fleet's settings. */
  deviceSettings(uuid: string): Promise<Settings>;
  updateDeviceSettings(uuid: string, change: DeviceSettingsChange, stamp: Stamp): Promise<Settings>;
}

export interface DeviceChange {
  name?: string;
  note?: string | null;
  tags?: string[];
  customer?: string | null;
  site?: string | null;
  address?: string | null;
  meterSerial?: string | null;
}

/** A signed auth request that passed its signature check, with what the route found out about it. */
export interface AuthAttempt {
  uuid: string;
  publicKey: string;
  deviceType: string;
  /** The platform it runs images of, checked against its fleet's device types; absent from older supervisors. */
  platform?: string;
  name?: string;
  /** The fleet it asks to join; checked to exist. Absent: only a pre-authorization can admit it. */
  fleet?: string;
  /** It sent its fleet's provisioning key, checked: admitted at once unless rejected. */
  provisioned: boolean;
  /** sha256 of the bearer key it sent alongside, for a device from before device keys to prove it is itself. */
  legacyKeyHash: string | null;
  /** The signed timestamp, normalised: it must be later than the last one the device used. */
  timestamp: string;
  /** The token to hand out if it is admitted: its sha256, and when it expires. */
  token: NewDeviceToken;
  at: string;
}

export interface NewDeviceToken {
  hash: string;
  expiresAt: string;
}

export type AuthOutcome =
  /** The token was stored. `how` says what admitted it, for the log and the audit. */
  | { kind: 'accepted'; device: DeviceRecord; how: 'known' | 'provisioning-key' | 'preauthorized' | 'legacy-key' }
  | { kind: 'pending'; device: DeviceRecord; created: boolean }
  | { kind: 'rejected'; device: DeviceRecord }
  /** The uuid is known with another key, or the key belongs to another device: nothing changed. */
  | { kind: 'conflict'; reason: string }
  /** A new device's uuid is not of the allowed form: nothing changed. */
  | { kind: 'invalid-uuid'; reason: string }
  /** The timestamp is not later than the last one this device signed: a replay, or a clock gone back. */
  | { kind: 'replayed'; last: string }
  /** Nothing admits it and it names no fleet to wait in. */
  | { kind: 'no-fleet' };

export interface KeyRotation {
  uuid: string;
  oldPublicKey: string;
  newPublicKey: string;
  timestamp: string;
  token: NewDeviceToken;
  at: string;
}

export type RotationOutcome =
  | { kind: 'rotated'; device: DeviceRecord }
  | { kind: 'refused'; status: 401 | 403 | 404 | 409; reason: string };

export interface Preauthorization {
  uuid: string;
  fleet: string;
  deviceType: string;
  publicKey: string;
  name?: string;
}

export interface DeviceQuery {
  fleet?: string;
  status?: DeviceAuthStatus;
}

export interface DeviceStore {
  /**
   * Decides, in one transaction, what a signed auth request gets (registry-api/devices/admission.ts has the rules): a
   * token for an admitted device, a pending record for an unknown one, never a known uuid with another key.
   * Admissions are audited as the device itself.
   */
  authenticate(attempt: AuthAttempt): Promise<AuthOutcome>;
  /** Replaces an accepted device's key; its tokens die and `token` becomes its only one. Audited as the device. */
  rotateKey(rotation: KeyRotation): Promise<RotationOutcome>;
  /** Throws ConflictError if the uuid or the public key is known already. */
  preauthorize(preauthorization: Preauthorization, stamp: Stamp): Promise<DeviceRecord>;
  /** The device a live (unexpired) token belongs to, whatever its status: the caller checks that. */
  byToken(tokenHash: string, at: string): Promise<DeviceRecord | null>;
  /** byToken with the device's target generation, in one indexed read: what a poll costs the database. */
  byTokenWithGeneration(tokenHash: string, at: string): Promise<DeviceSession | null>;
  /** The devices with these uuids (unknown ones are left out), with their target generations, in few reads. */
  withGenerations(uuids: readonly string[]): Promise<DeviceWithGeneration[]>;
  /** Pins the device to a release of its fleet, or (null) lets it follow its fleet again. Null if no such device. */
  setPin(uuid: string, releaseId: string | null, stamp: Stamp): Promise<DeviceRecord | null>;
  /** Rejects the device and drops its tokens at once. Idempotent: a second revoke keeps the first time. */
  revoke(uuid: string, stamp: Stamp): Promise<DeviceRecord | null>;
  /** Admits a pending, pre-authorized, rejected or revoked device with the key it has. Idempotent. */
  accept(uuid: string, stamp: Stamp): Promise<DeviceRecord | null>;
  /** Refuses a pending or pre-authorized device. Throws ConflictError for an accepted one (that is revoke). */
  reject(uuid: string, stamp: Stamp): Promise<DeviceRecord | null>;
  update(uuid: string, change: DeviceChange, stamp: Stamp): Promise<DeviceRecord | null>;
  /**
   * By exact uuid, or by short id (any case, Crockford's look-alike letters allowed). Throws ConflictError, naming
   * both devices, when the text is one device's uuid and another's short id: neither is preferred silently.
   */
  get(uuidOrShortId: string): Promise<DeviceView | null>;
  /**
   * Devices whose short id starts with `shortId` or whose uuid starts with `uuid` (prefixes as
   * devices/short-id.ts prefixesOf gives them), at most `limit`, in uuid order.
   */
  withPrefix(prefix: { shortId: string | null; uuid: string | null }, limit: number): Promise<DeviceView[]>;
  list(query?: DeviceQuery): Promise<DeviceView[]>;
  touch(uuid: string, at: string): Promise<void>;
  /**
   * A target poll's contact at `atMs` (ms since the epoch), written behind in batches (store/last-seen.ts):
   * get and list of this store include it at once, other instances' within seconds.
   */
  seen(uuid: string, atMs: number): void;
  /** Keeps only the latest report (its data use goes to traffic.ts's table); also counts as the device being seen. */
  saveReport(uuid: string, report: StateReport, at: string): Promise<void>;
}

export interface UserRecord {
  name: string;
  /** Null: no role outside the fleets granted to the user. */
  role: Role | null;
  /** Fleet name to the role granted there, replacing `role` on that fleet. */
  fleetRoles: FleetRoles;
  createdAt: string;
}

export interface NewUser {
  name: string;
  role: Role | null;
  createdAt: string;
}

export type FleetRoleRecord = FleetRole;

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
  create(user: NewUser, stamp: Stamp): Promise<UserRecord>;
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
  /** The user's fleet grants, by fleet name. */
  fleetRoles(user: string): Promise<FleetRoleRecord[]>;
  /** Creates or replaces the user's role on the fleet, audited; null if there is no such user or fleet. */
  grantFleetRole(user: string, fleet: string, role: Role, stamp: Stamp): Promise<FleetRoleRecord | null>;
  /** Drops the grant, audited; null if the user had none on that fleet. */
  revokeFleetRole(user: string, fleet: string, stamp: Stamp): Promise<FleetRoleRecord | null>;
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

/** A host OS release: a signed RAUC bundle for one device type, kept under the API's os-bundles dir. */
export interface OsReleaseRecord {
  id: string;
  deviceType: string;
  version: string;
  /** sha256:HEX of the whole bundle file. */
  digest: string;
  size: number;
  /** The bundle manifest's compatible as `rauc info` read it; null when the API did not check it. */
  compatible: string | null;
  /** The bundle's file name inside the os-bundles dir. */
  file: string;
  createdAt: string;
  /** The user who uploaded it (the stamp's actor). */
  uploadedBy: string;
}

export interface NewOsRelease {
  deviceType: string;
  version: string;
  digest: string;
  size: number;
  compatible: string | null;
  file: string;
  createdAt: string;
}

/** Where a host OS pin lives: on a fleet, or on one device (which wins). */
export type OsPinScope = { fleet: string } | { device: string };

export type OsPinOutcome =
  | { kind: 'pinned'; release: OsReleaseRecord | null }
  /** No such fleet or device. */
  | { kind: 'no-scope' }
  | { kind: 'no-release' }
  /** The release is for another device type than the fleet's or the device's. */
  | { kind: 'wrong-type'; expected: string; got: string };

export interface OsReleaseStore {
  /** Throws ConflictError if the device type has that version already. */
  create(release: NewOsRelease, stamp: Stamp): Promise<OsReleaseRecord>;
  get(id: string): Promise<OsReleaseRecord | null>;
  /** By id, else by version, within one device type. */
  find(deviceType: string, idOrVersion: string): Promise<OsReleaseRecord | null>;
  /** Newest first; of one device type, or all. */
  list(deviceType?: string): Promise<OsReleaseRecord[]>;
  /** Throws ConflictError while a fleet or device is pinned to it; null if there is no such release. */
  remove(id: string, stamp: Stamp): Promise<OsReleaseRecord | null>;
  /** Pins the scope to a release of its device type, or (null) removes its pin. */
  pin(scope: OsPinScope, releaseId: string | null, stamp: Stamp): Promise<OsPinOutcome>;
  /** The scope's own pin; null when it has none. */
  pinOf(scope: OsPinScope): Promise<OsReleaseRecord | null>;
  /** What the device should run: its own pin, else its fleet's, if of its device type; null: leave the OS alone. */
  targetFor(device: Pick<DeviceRecord, 'uuid' | 'fleet' | 'deviceType'>): Promise<OsReleaseRecord | null>;
}

/** One issue of a device's signed target: its version and validity, and the content hash it was made for. */
export interface TargetIssueRecord {
  version: number;
  contentHash: string;
  issuedAt: string;
  expiresAt: string;
}

export interface TargetIssueStore {
  /** The last issue of `uuid`'s target; null before the first. */
  current(uuid: string): Promise<TargetIssueRecord | null>;
  /**
   * The issue to serve `uuid`'s target of content `contentHash` with at `now`: the last one while it is for the same
   * content and less than half its validity passed, else a new one (version + 1, valid for `validityMs`). Atomic.
   */
  issue(uuid: string, contentHash: string, now: Date, validityMs: number): Promise<TargetIssueRecord>;
}

/** The files releases carry, per fleet, by sha256 digest (content-addressed: bytes never change). */
export interface ReleaseFileStore {
  /** Stores the bytes unless the fleet has them; true when they were new. The digest must be theirs. */
  put(fleet: string, digest: string, content: Buffer, at: string): Promise<boolean>;
  get(fleet: string, digest: string): Promise<Buffer | null>;
  /** Which of `digests` the fleet does not have. */
  missing(fleet: string, digests: readonly string[]): Promise<string[]>;
}

/** A browser session as the store keeps it: the user, its CSRF token and when it ends. */
export interface WebSessionRecord {
  user: string;
  csrfToken: string;
  createdAt: string;
  expiresAt: string;
}

export interface NewWebSession extends WebSessionRecord {
  /** sha256 of the session id the cookie carries. */
  idHash: string;
}

/** Passwords, invite codes and browser sessions of people using the dashboard (logins.ts). */
export interface LoginStore {
  /** The user's password as an scrypt string; null when none is set. */
  passwordOf(user: string): Promise<string | null>;
  /** Sets or replaces the password, drops a pending invite and ends the user's sessions; false: no such user. */
  setPassword(user: string, hash: string, stamp: Stamp): Promise<boolean>;
  /** Replaces the user's pending invite, if any; false: no such user. */
  createInvite(user: string, codeHash: string, expiresAt: string, stamp: Stamp): Promise<boolean>;
  /** Whether `codeHash` is the user's live invite (checked before a password is hashed for it). */
  inviteIsLive(user: string, codeHash: string, at: string): Promise<boolean>;
  /** Sets the password if `codeHash` is the user's live invite, which it uses up; false otherwise. */
  redeemInvite(user: string, codeHash: string, passwordHash: string, at: string): Promise<boolean>;
  /** Stores a new session, ending the one the browser came with (`replacing`, its id hash) in the same step. */
  createSession(session: NewWebSession, replacing: string | null): Promise<void>;
  /** The live session with this id hash; null when unknown or expired. */
  session(idHash: string, at: string): Promise<WebSessionRecord | null>;
  endSession(idHash: string): Promise<void>;
  /** Drops expired sessions and invites; how many. */
  prune(at: string): Promise<number>;
}

export interface Store {
  readonly fleets: FleetStore;
  readonly provisioningKeys: ProvisioningKeyStore;
  readonly releases: ReleaseStore;
  readonly releaseKeys: ReleaseKeyStore;
  readonly releaseFiles: ReleaseFileStore;
  readonly config: ConfigStore;
  readonly devices: DeviceStore;
  readonly users: UserStore;
  /** People's passwords, invite codes and browser sessions (logins.ts). */
  readonly logins: LoginStore;
  readonly audit: AuditStore;
  readonly osReleases: OsReleaseStore;
  readonly targetIssues: TargetIssueStore;
  /** Devices' data use per day and month (traffic.ts), written with their reports. */
  readonly traffic: TrafficStore;
  /** Devices' reverse SSH tunnels and operators' SSH sessions (tunnels.ts). */
  readonly tunnels: TunnelStore;
  /** Remote actions on devices and their results (device-actions.ts). */
  readonly deviceActions: DeviceActionStore;
  /** Rollouts and the devices each covers (../rollouts/store.ts). */
  readonly rollouts: RolloutStore;
  /** Devices' metrics over time, raw and in 15-minute buckets (metrics.ts), written with their reports. */
  readonly metrics: MetricsStore;
  /** What the last device.online/offline event said of each device (presence.ts). */
  readonly presence: PresenceStore;
  /** Webhooks and their persisted delivery queue (webhooks.ts). */
  readonly webhooks: WebhookStore;
  /** Committed changes to targets, tokens and admission, announced after their commit (target-generation.ts). */
  readonly changes: TargetChanges;
  /** Fleets' saved device selectors (device-groups.ts). */
  readonly groups: DeviceGroupStore;
  /** Changes to many devices at once, each audited once (device-bulk.ts). */
  readonly bulk: BulkStore;
  /** Archiving and deleting fleets, releases, users, devices (lifecycle.ts). */
  readonly lifecycle: LifecycleStore;
  close(): Promise<void>;
}

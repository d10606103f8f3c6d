// What the API keeps, and the one interface it is kept behind. Routes see only this: SQLite today
// (store/sqlite.ts), PostgreSQL later, without a route changing. Methods are async for that reason even though
// SQLite answers synchronously.
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

export interface NewFleet {
  name: string;
  deviceType: string;
  provisioningKey: string;
  pollIntervalSeconds: number;
  createdAt: string;
}

export interface FleetStore {
  /** Throws ConflictError if the name is taken. */
  create(fleet: NewFleet): Promise<FleetRecord>;
  get(name: string): Promise<FleetRecord | null>;
  list(): Promise<FleetRecord[]>;
  setPolicy(name: string, policy: ReleasePolicy): Promise<FleetRecord | null>;
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
  create(release: NewRelease): Promise<ReleaseRecord>;
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

export interface DeviceStore {
  /**
   * Creates the device, or, for a uuid already registered in the same fleet, replaces its key (the old one stops
   * working). Throws ConflictError if the uuid belongs to another fleet.
   */
  register(registration: Registration): Promise<{ device: DeviceRecord; created: boolean }>;
  byKeyHash(keyHash: string): Promise<DeviceRecord | null>;
  get(uuid: string): Promise<DeviceView | null>;
  list(fleet?: string): Promise<DeviceView[]>;
  touch(uuid: string, at: string): Promise<void>;
  /** Keeps only the latest report; also counts as the device being seen. */
  saveReport(uuid: string, report: StateReport, at: string): Promise<void>;
}

export interface Store {
  readonly fleets: FleetStore;
  readonly releases: ReleaseStore;
  readonly devices: DeviceStore;
  close(): Promise<void>;
}

// Targets kept in memory between polls. A device's target is computed (reads, canonical JSON, sha256 for the
// ETag) once per target generation (store/target-generation.ts): the poll reads the device's and its fleet's
// generation together with its token, and as long as both stay where they were, the target and its ETag are the
// ones computed before. Every change that shapes a target bumps a generation in its own transaction, in the
// database, so a pin made through another API instance is seen by this one on the very next poll; nothing here
// has to be told, and nothing expires on a timer.
// What a fleet contributes (its record, config vars, newest ready release) is kept per fleet generation, so the
// poll after a fleet-wide change costs each device only its own reads. Releases are kept by id: what a target takes
// from a release (version, services, volumes, networks) never changes after it is pushed.
// Each served target carries its issue (version, issuedAt, expiresAt; store/target-issues.ts): the same issue, and so
// the same signed bytes and ETag, while the content stays and less than half of its validity has passed; a kept
// target is computed again from that half-way point, which issues it anew with a later expiry.
// Which generation a poll brings is the device session's business (../devices/sessions.ts): sessions are dropped by
// the invalidation bus when a generation moves, so the next poll reads the new one.
import { canonicalJson, sha256Hex } from '../../protocol/canonical-json.js';
import type { ConfigVars, ServiceVars } from '../../protocol/fleet-config.js';
import type { SignedKeySet } from '../../protocol/release-signature.js';
import type { TargetState } from '../../protocol/target-state.js';
import { renewAtMs } from '../store/target-issues.js';
import { etagOf } from '../http/etag.js';
import type { SigningKey } from '../keys/signing-key.js';
import type { DeviceRecord, FleetRecord, ReleaseRecord, Store, TargetGeneration } from '../store/index.js';
import { targetFor, type TargetSources } from './target-state.js';

/**
 * A device's current target as served: its ETag, and (made on the first full answer) its body and signature. It is
 * kept per device, so it holds as little as it can: the target's object tree only until the body is made from it
 * (the tree is several times the size of its JSON text), then the body alone.
 */
export interface ServedTarget {
  readonly etag: string;
  /** When this target is issued anew (half-way through its validity), in ms since the epoch. */
  readonly renewAtMs: number;
  /** The JSON body and its signature header; computed once per target. */
  signed(): { body: string; signature: string };
}

/** How long a signed target may be acted on by default (SKIFF_TARGET_VALIDITY_SECONDS). */
export const DEFAULT_TARGET_VALIDITY_MS = 7 * 24 * 3600 * 1000;

export interface TargetCacheOptions {
  store: Pick<Store, 'fleets' | 'releases' | 'config' | 'osReleases' | 'targetIssues' | 'releaseKeys'> &
    Partial<Pick<Store, 'rollouts'>>;
  /** How long each issued target is valid (default DEFAULT_TARGET_VALIDITY_MS). */
  validityMs?: number;
  now?: () => Date;
  signingKey: Pick<SigningKey, 'sign' | 'nextPublicKey'>;
  /** Devices whose targets are kept; beyond that the oldest entries go (default 100,000). */
  maxDevices?: number;
  /** The device's tunnel (../remote-access/); absent: targets carry none. */
  tunnel?: TargetSources['tunnel'];
}

/** Everything the target depends on that is not covered by a generation, or cheap to compare anyway. */
interface DeviceKey {
  deviceGeneration: number;
  fleetGeneration: number;
  fleet: string;
  deviceType: string;
  name: string;
  pin: string | null;
}

interface DeviceEntry extends DeviceKey {
  served: Promise<ServedTarget | null>;
  /** `served` once it has resolved, for answers that need no promise at all. */
  settled?: ServedTarget | null;
  /** The device and generation objects (a kept session's) last found to match: the next poll compares identity. */
  matchedDevice?: DeviceRecord;
  matchedGeneration?: TargetGeneration;
}

interface FleetFacts {
  generation: number;
  fleet: Promise<FleetRecord | null>;
  vars: Promise<ConfigVars>;
  serviceVars: Promise<ServiceVars>;
  latestReady: Promise<ReleaseRecord | null>;
  releaseKeys: Promise<SignedKeySet | null>;
}

/** Releases kept by id at most; a fleet pushes a few a week, so this holds every release a device still runs. */
const MAX_RELEASES = 1_000;

function servedOf(target: TargetState, signingKey: Pick<SigningKey, 'sign'>, renewAt: number): ServedTarget {
  let unsigned: TargetState | null = target;
  let signed: { body: string; signature: string } | undefined;
  return {
    etag: etagOf(target),
    renewAtMs: renewAt,
    signed: () => {
      if (signed === undefined && unsigned !== null) {
        signed = { body: JSON.stringify(unsigned), signature: signingKey.sign(unsigned) };
        unsigned = null;
      }
      if (signed === undefined) throw new Error('a served target lost both its content and its signed body');
      return signed;
    },
  };
}

function keyOf(device: DeviceRecord, generation: TargetGeneration & { fleet: number }): DeviceKey {
  return {
    deviceGeneration: generation.device,
    fleetGeneration: generation.fleet,
    fleet: device.fleet,
    deviceType: device.deviceType,
    name: device.name,
    pin: device.pinnedReleaseId,
  };
}

/** Compared field by field: a poll answered from memory builds nothing. */
function sameKey(entry: DeviceKey, device: DeviceRecord, generation: TargetGeneration): boolean {
  return (
    entry.deviceGeneration === generation.device &&
    entry.fleetGeneration === generation.fleet &&
    entry.fleet === device.fleet &&
    entry.deviceType === device.deviceType &&
    entry.name === device.name &&
    entry.pin === device.pinnedReleaseId
  );
}

/** Keeps a settled promise; forgets a rejected one so the next caller tries again. */
function remembered<K, V>(map: Map<K, Promise<V>>, key: K, make: () => Promise<V>): Promise<V> {
  const known = map.get(key);
  if (known) return known;
  const made = make();
  map.set(key, made);
  made.catch(() => {
    if (map.get(key) === made) map.delete(key);
  });
  return made;
}

export class TargetCache {
  private readonly devices = new Map<string, DeviceEntry>();
  private readonly fleets = new Map<string, FleetFacts>();
  private readonly releases = new Map<string, Promise<ReleaseRecord | null>>();
  private readonly maxDevices: number;
  private readonly validityMs: number;
  private readonly now: () => Date;

  constructor(private readonly options: TargetCacheOptions) {
    this.maxDevices = options.maxDevices ?? 100_000;
    this.validityMs = options.validityMs ?? DEFAULT_TARGET_VALIDITY_MS;
    this.now = options.now ?? (() => new Date());
  }

  /** Whether a kept entry's target is due to be issued anew; an entry still computing is not. */
  private due(entry: DeviceEntry): boolean {
    return entry.settled != null && this.now().getTime() >= entry.settled.renewAtMs;
  }

  /**
   * Drops every kept target: after the signing key moved (a rotation started or completed), each is signed, and
   * issued, anew on its next poll.
   */
  forget(): void {
    this.devices.clear();
  }

  /** Devices with a kept target, for tests and metrics. */
  get size(): number {
    return this.devices.size;
  }

  /**
   * The target of `device` as its row and its fleet's row stand at `generation` (read together with the device);
   * null when its fleet does not exist.
   */
  targetOf(device: DeviceRecord, generation: TargetGeneration): Promise<ServedTarget | null> {
    if (generation.fleet === null) return Promise.resolve(null);
    const known = this.devices.get(device.uuid);
    if (known !== undefined && sameKey(known, device, generation) && !this.due(known)) return known.served;
    const served = this.compute(device, generation.fleet);
    const entry: DeviceEntry = {
      ...keyOf(device, { device: generation.device, fleet: generation.fleet }),
      served,
      settled: undefined,
      matchedDevice: undefined,
      matchedGeneration: undefined,
    };
    this.devices.delete(device.uuid);
    this.devices.set(device.uuid, entry);
    if (this.devices.size > this.maxDevices) {
      const oldest = this.devices.keys().next();
      if (!oldest.done) this.devices.delete(oldest.value);
    }
    served.then(
      (value) => {
        entry.settled = value;
      },
      () => {
        if (this.devices.get(device.uuid) === entry) this.devices.delete(device.uuid);
      },
    );
    return served;
  }

  /** The target targetOf would give, if it is computed already; undefined if it would have to be (or is being). */
  settledTarget(device: DeviceRecord, generation: TargetGeneration): ServedTarget | null | undefined {
    if (generation.fleet === null) return null;
    const known = this.devices.get(device.uuid);
    if (known === undefined || this.due(known)) return undefined;
    if (known.matchedDevice === device && known.matchedGeneration === generation) return known.settled;
    if (!sameKey(known, device, generation)) return undefined;
    known.matchedDevice = device;
    known.matchedGeneration = generation;
    return known.settled;
  }

  private async compute(device: DeviceRecord, fleetGeneration: number): Promise<ServedTarget | null> {
    const facts = this.fleetFacts(device.fleet, fleetGeneration);
    const fleet = await facts.fleet;
    if (fleet === null) return null;
    const { store, signingKey } = this.options;
    const sources: TargetSources = {
      releases: {
        get: (id) => this.release(id),
        latestReady: (name) => (name === fleet.name ? facts.latestReady : store.releases.latestReady(name)),
        // Only for a device its fleet's release has no image for: rare enough to read each time.
        latestReadyFor: (name, platform) => store.releases.latestReadyFor(name, platform),
      },
      config: {
        vars: (scope) =>
          'fleet' in scope && scope.fleet === fleet.name && scope.service === undefined
            ? facts.vars
            : store.config.vars(scope),
        serviceVars: (scope) =>
          'fleet' in scope && scope.fleet === fleet.name ? facts.serviceVars : store.config.serviceVars(scope),
        deviceSettings: (uuid) => store.config.deviceSettings(uuid),
      },
      osReleases: store.osReleases,
      releaseKeys: {
        get: (name) => (name === fleet.name ? facts.releaseKeys : store.releaseKeys.get(name)),
      },
      ...(this.options.tunnel === undefined ? {} : { tunnel: this.options.tunnel }),
      ...(store.rollouts === undefined ? {} : { rollouts: store.rollouts }),
    };
    const content = await targetFor(sources, device, fleet);
    // The announced next key is part of what is issued: announcing it, or no longer, is a new version.
    const nextSigningKey = signingKey.nextPublicKey;
    const issue = await store.targetIssues.issue(
      device.uuid,
      sha256Hex(canonicalJson({ content, nextSigningKey })),
      this.now(),
      this.validityMs,
    );
    const target: TargetState = {
      ...content,
      issued: {
        version: issue.version,
        issuedAt: issue.issuedAt,
        expiresAt: issue.expiresAt,
        ...(nextSigningKey === null ? {} : { nextSigningKey }),
      },
    };
    return servedOf(target, signingKey, renewAtMs(issue));
  }

  private fleetFacts(name: string, generation: number): FleetFacts {
    const known = this.fleets.get(name);
    if (known?.generation === generation) return known;
    const { store } = this.options;
    const facts: FleetFacts = {
      generation,
      fleet: store.fleets.get(name),
      vars: store.config.vars({ fleet: name }),
      serviceVars: store.config.serviceVars({ fleet: name }),
      latestReady: store.releases.latestReady(name),
      releaseKeys: store.releaseKeys.get(name),
    };
    this.fleets.set(name, facts);
    // A failed read must not stay: the next poll reads again.
    Promise.all([facts.fleet, facts.vars, facts.serviceVars, facts.latestReady, facts.releaseKeys]).catch(() => {
      if (this.fleets.get(name) === facts) this.fleets.delete(name);
    });
    return facts;
  }

  private release(id: string): Promise<ReleaseRecord | null> {
    if (this.releases.size >= MAX_RELEASES) this.releases.clear();
    const found = remembered(this.releases, id, () => this.options.store.releases.get(id));
    // An unknown id is not kept: nothing is learnt by remembering it.
    void found.then(
      (release) => {
        if (release === null && this.releases.get(id) === found) this.releases.delete(id);
      },
      () => undefined,
    );
    return found;
  }
}

// The target state a device converges to. The API computes it; the supervisor validates it on receipt
// and again when it reads its persisted copy, so a damaged file never reaches the planner.
import { Type, type Static } from '@sinclair/typebox';
import { ReleaseSignatureSchema, SignedKeySetSchema } from './release-signature.js';

const Name = Type.String({ minLength: 1, maxLength: 128, pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]*$' });
const StringMap = Type.Record(Type.String(), Type.String());

/** Long-syntax mount options, each only when the compose file sets it. */
const MountOptionFields = {
  /** volume.nocopy: do not copy the image's content into a new volume. */
  noCopy: Type.Optional(Type.Boolean()),
  /** bind.propagation: rprivate, private, rshared, shared, rslave, slave. */
  propagation: Type.Optional(Type.String({ minLength: 1 })),
  /** bind.create_host_path false: the host path must exist (the engine's mount API, as compose v2). */
  requireHostPath: Type.Optional(Type.Boolean()),
  /** tmpfs.size in bytes and tmpfs.mode. */
  tmpfsSizeBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  tmpfsMode: Type.Optional(Type.Integer({ minimum: 0, maximum: 0o7777 })),
};

export const VolumeMountSchema = Type.Object(
  {
    type: Type.Union([Type.Literal('volume'), Type.Literal('bind'), Type.Literal('tmpfs')]),
    /** Volume name (type volume) or host path (type bind); absent for tmpfs and anonymous volumes. */
    source: Type.Optional(Type.String({ minLength: 1 })),
    target: Type.String({ minLength: 1 }),
    readOnly: Type.Boolean(),
    ...MountOptionFields,
  },
  { additionalProperties: false },
);
export type VolumeMount = Static<typeof VolumeMountSchema>;

/** sha256 of a file a release carries, as image blobs are named. */
export const FileDigestSchema = Type.String({ pattern: '^sha256:[a-f0-9]{64}$' });

/** '' or a relative '/'-separated path without '.' or '..' segments or control characters: nothing a device
 * writes from it can land outside the release's folder. */
const RELATIVE_FILE_PATH = '^$|^(?!(.*/)?\\.\\.?(/|$))[^/\\x00-\\x1f]+(/[^/\\x00-\\x1f]+)*$';

/** Most files one mount may carry: a config folder, not a source tree. */
export const MAX_FILES_PER_MOUNT = 256;

/**
 * A file or folder the release carries from the developer's project folder (a relative bind source, a compose
 * config or secret backed by a file). The device fetches each blob by digest and writes the files read-only under
 * its data directory, one copy per release, then binds them at `target`.
 */
export const FileMountSchema = Type.Object(
  {
    kind: Type.Union([Type.Literal('bind'), Type.Literal('config'), Type.Literal('secret')]),
    /** The relative path (bind) or config/secret name as the compose file writes it, for people to read. */
    source: Type.String({ minLength: 1, maxLength: 1024 }),
    target: Type.String({ minLength: 2, maxLength: 1024, pattern: '^/' }),
    /** A folder: `files` are its content by their path inside it. A file: one entry with path ''. */
    directory: Type.Boolean(),
    files: Type.Array(
      Type.Object(
        {
          /** Relative, '/'-separated, no '.' or '..' segments; '' for a single file. */
          path: Type.String({ maxLength: 1024, pattern: RELATIVE_FILE_PATH }),
          digest: FileDigestSchema,
          size: Type.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      ),
      { maxItems: MAX_FILES_PER_MOUNT },
    ),
    /** File mode on the device (0444 configs and binds, 0400 secrets unless the compose file sets one). */
    mode: Type.Integer({ minimum: 0, maximum: 0o777 }),
    uid: Type.Optional(Type.Integer({ minimum: 0 })),
    gid: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type FileMount = Static<typeof FileMountSchema>;

/**
 * A relative bind to a folder that was missing or empty at push (the compose idiom `./data:/data`): state the
 * service keeps, a persistent folder per service under the device's data directory that survives releases.
 */
export const StateDirectorySchema = Type.Object(
  {
    /** The relative path as written, normalised (`data`, `var/db`): the folder's name on the device. */
    name: Type.String({
      minLength: 1,
      maxLength: 255,
      pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$',
    }),
    target: Type.String({ minLength: 2, maxLength: 1024, pattern: '^/' }),
    readOnly: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type StateDirectory = Static<typeof StateDirectorySchema>;

export const PortMappingSchema = Type.Object(
  {
    target: Type.Integer({ minimum: 1, maximum: 65535 }),
    published: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    hostIp: Type.Optional(Type.String()),
    protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')]),
  },
  { additionalProperties: false },
);
export type PortMapping = Static<typeof PortMappingSchema>;

export const DependencyConditionSchema = Type.Union([
  Type.Literal('service_started'),
  Type.Literal('service_healthy'),
  Type.Literal('service_completed_successfully'),
]);

export const HealthcheckSchema = Type.Object(
  {
    /** Absent: the image's own test, with the timings set here (compose's healthcheck without `test`). */
    test: Type.Optional(Type.Array(Type.String())),
    intervalSeconds: Type.Optional(Type.Number({ minimum: 0 })),
    timeoutSeconds: Type.Optional(Type.Number({ minimum: 0 })),
    retries: Type.Optional(Type.Integer({ minimum: 0 })),
    startPeriodSeconds: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export const RestartPolicySchema = Type.Union([
  Type.Literal('no'),
  Type.Literal('always'),
  Type.Literal('unless-stopped'),
  Type.Literal('on-failure'),
]);

export const UlimitSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    soft: Type.Integer(),
    hard: Type.Integer(),
  },
  { additionalProperties: false },
);

export const LoggingSchema = Type.Object(
  {
    /** Absent: the engine's default driver, with these options. */
    driver: Type.Optional(Type.String({ minLength: 1 })),
    options: StringMap,
  },
  { additionalProperties: false },
);

/** How a service joins one network: aliases always, the rest only when the compose file sets it. */
export const ServiceNetworkSchema = Type.Object(
  {
    aliases: Type.Array(Type.String()),
    ipv4Address: Type.Optional(Type.String({ minLength: 1 })),
    ipv6Address: Type.Optional(Type.String({ minLength: 1 })),
    linkLocalIps: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** The network with the highest priority is the container's primary one (NetworkMode). */
    priority: Type.Optional(Type.Integer()),
  },
  { additionalProperties: false },
);
export type ServiceNetwork = Static<typeof ServiceNetworkSchema>;

/**
 * One service of a release, normalised from its compose definition: long forms only, image pinned by digest.
 * The supervisor maps it to engine create options; fields grow with the compose support.
 */
export const ServiceSpecSchema = Type.Object(
  {
    name: Name,
    /** Always a digest reference: REGISTRY/REPO@sha256:HEX. */
    image: Type.String({ pattern: '@sha256:[a-f0-9]{64}$' }),
    command: Type.Optional(Type.Array(Type.String())),
    entrypoint: Type.Optional(Type.Array(Type.String())),
    environment: StringMap,
    labels: StringMap,
    volumes: Type.Array(VolumeMountSchema),
    ports: Type.Array(PortMappingSchema),
    /** Network name (as in the compose file) to aliases. Empty when networkMode is set. */
    networks: Type.Record(Type.String(), ServiceNetworkSchema),
    networkMode: Type.Optional(Type.String()),
    restart: RestartPolicySchema,
    privileged: Type.Boolean(),
    /** host-path:container-path[:permissions] */
    devices: Type.Array(Type.String()),
    dependsOn: Type.Record(Type.String(), DependencyConditionSchema),
    healthcheck: Type.Optional(HealthcheckSchema),
    workingDir: Type.Optional(Type.String()),
    user: Type.Optional(Type.String()),
    hostname: Type.Optional(Type.String()),
    stopSignal: Type.Optional(Type.String()),
    stopGracePeriodSeconds: Type.Optional(Type.Number({ minimum: 0 })),
    // Added with the fuller compose support: all optional, so targets persisted before them stay valid and an absent
    // field leaves the create options (and so the config hash) exactly as they were.
    /** on-failure:N: how often the engine restarts the container before giving up. */
    restartMaxRetries: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Mount point to tmpfs options (`size=64m,mode=1777`, or empty), from the service-level `tmpfs`. */
    tmpfs: Type.Optional(StringMap),
    capAdd: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    capDrop: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** HOST:IP, as the engine writes /etc/hosts lines. */
    extraHosts: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    dns: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    init: Type.Optional(Type.Boolean()),
    shmSizeBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    readOnly: Type.Optional(Type.Boolean()),
    securityOpt: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    sysctls: Type.Optional(StringMap),
    ulimits: Type.Optional(Type.Array(UlimitSchema)),
    memoryBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    /** CPUs as compose writes them (0.5 = half a CPU). */
    cpus: Type.Optional(Type.Number({ minimum: 0 })),
    logging: Type.Optional(LoggingSchema),
    groupAdd: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** Container ports opened without publishing them: PORT/PROTOCOL. */
    expose: Type.Optional(Type.Array(Type.String({ pattern: '^[0-9]{1,5}/(tcp|udp)$' }))),
    domainname: Type.Optional(Type.String()),
    dnsSearch: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    dnsOptions: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** `host`, or empty for the container's own namespace. */
    pid: Type.Optional(Type.String()),
    /** host, private, shareable or none (sharing another service's IPC namespace is refused). */
    ipc: Type.Optional(Type.String()),
    memoryReservationBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Memory plus swap; -1: unlimited swap. */
    memorySwapBytes: Type.Optional(Type.Integer({ minimum: -1 })),
    cpuShares: Type.Optional(Type.Integer({ minimum: 0 })),
    cpuset: Type.Optional(Type.String()),
    cpuQuota: Type.Optional(Type.Integer()),
    cpuPeriod: Type.Optional(Type.Integer({ minimum: 0 })),
    pidsLimit: Type.Optional(Type.Integer()),
    oomScoreAdj: Type.Optional(Type.Integer({ minimum: -1000, maximum: 1000 })),
    macAddress: Type.Optional(Type.String({ minLength: 1 })),
    tty: Type.Optional(Type.Boolean()),
    stdinOpen: Type.Optional(Type.Boolean()),
    /** OS/ARCH[/VARIANT] the service's image must be for (e.g. linux/arm64). */
    platform: Type.Optional(Type.String({ pattern: '^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$' })),
    /** network_mode service:NAME: the container joins NAME's network namespace (and is recreated with it). */
    networkService: Type.Optional(Name),
    /** Legacy links: service name to the alias it is reached by from this container. */
    links: Type.Optional(Type.Record(Type.String(), Type.String({ minLength: 1 }))),
    /** volumes_from: the services whose mounts this container also mounts, with rw or ro. */
    volumesFrom: Type.Optional(
      Type.Array(Type.Object({ service: Name, readOnly: Type.Boolean() }, { additionalProperties: false })),
    ),
    /** cgroup: host or private cgroup namespace. */
    cgroupns: Type.Optional(Type.Union([Type.Literal('host'), Type.Literal('private')])),
    /** uts: host, or absent for the container's own. */
    uts: Type.Optional(Type.String()),
    userns: Type.Optional(Type.String()),
    memorySwappiness: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    oomKillDisable: Type.Optional(Type.Boolean()),
    deviceCgroupRules: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** depends_on with `restart: true`: this container is recreated whenever one of these services' is. */
    restartWith: Type.Optional(Type.Array(Name)),
    /** Files the release carries for this service (relative binds, configs, secrets). */
    files: Type.Optional(Type.Array(FileMountSchema, { maxItems: 64 })),
    /** Relative binds the developer means as state: persistent per-service folders. */
    stateDirectories: Type.Optional(Type.Array(StateDirectorySchema, { maxItems: 64 })),
  },
  { additionalProperties: false },
);
export type ServiceSpec = Static<typeof ServiceSpecSchema>;

/** A top-level network as the compose file defines it; absent fields are the engine's defaults. */
export const NetworkDefinitionSchema = Type.Object(
  {
    /** The engine's name for it, from the file's `name`; absent: Skiff's own prefixed name. */
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    /** Made outside the release: never created or removed by the device, only joined. */
    external: Type.Optional(Type.Boolean()),
    driver: Type.Optional(Type.String({ minLength: 1 })),
    driverOpts: Type.Optional(StringMap),
    internal: Type.Optional(Type.Boolean()),
    attachable: Type.Optional(Type.Boolean()),
    enableIpv6: Type.Optional(Type.Boolean()),
    labels: Type.Optional(StringMap),
    ipam: Type.Optional(
      Type.Object(
        {
          driver: Type.Optional(Type.String({ minLength: 1 })),
          config: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  subnet: Type.Optional(Type.String()),
                  ipRange: Type.Optional(Type.String()),
                  gateway: Type.Optional(Type.String()),
                  auxAddresses: Type.Optional(StringMap),
                },
                { additionalProperties: false },
              ),
            ),
          ),
          options: Type.Optional(StringMap),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type NetworkDefinition = Static<typeof NetworkDefinitionSchema>;

/** A top-level volume as the compose file defines it; absent fields are the engine's defaults. */
export const VolumeDefinitionSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    external: Type.Optional(Type.Boolean()),
    driver: Type.Optional(Type.String({ minLength: 1 })),
    driverOpts: Type.Optional(StringMap),
    labels: Type.Optional(StringMap),
  },
  { additionalProperties: false },
);
export type VolumeDefinition = Static<typeof VolumeDefinitionSchema>;

export const UpdateWindowSchema = Type.Object(
  {
    /** Five-field cron expression for when the window opens. */
    cron: Type.String({ minLength: 9 }),
    durationMinutes: Type.Integer({ minimum: 1, maximum: 1440 }),
    /** IANA timezone name, e.g. Europe/Amsterdam. */
    timezone: Type.String({ minLength: 1 }),
    /** True: download whenever the link is up, apply only inside the window. Absent: both only inside it. */
    downloadOutsideWindow: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type UpdateWindow = Static<typeof UpdateWindowSchema>;

/** A different cap for part of the day, e.g. full speed at night. Times are local to `timezone`. */
export const BandwidthPeriodSchema = Type.Object(
  {
    from: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' }),
    to: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' }),
    timezone: Type.String({ minLength: 1 }),
    /** Null: no cap during the period. */
    bytesPerSecond: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type BandwidthPeriod = Static<typeof BandwidthPeriodSchema>;

/** A metrics report at most every minute (more is a dashboard's job, not a metered link's), at least weekly. */
export const METRICS_INTERVAL_LIMITS = { minSeconds: 60, maxSeconds: 7 * 24 * 3600 } as const;

export const DeviceConfigSchema = Type.Object(
  {
    pollIntervalSeconds: Type.Integer({ minimum: 1, maximum: 86400 }),
    updateWindow: Type.Union([UpdateWindowSchema, Type.Null()]),
    bandwidthCapBytesPerSecond: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    /** Periods that override the cap; the first that contains the current time wins. */
    bandwidthSchedule: Type.Optional(Type.Array(BandwidthPeriodSchema)),
    /** An operator's "update now": until this instant the update window is ignored. */
    forceUpdateUntil: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
    /** An operator's override: update locks held by services are ignored. */
    overrideLocks: Type.Optional(Type.Boolean()),
    /** How often metrics are reported when nothing else is; absent: the supervisor's default (a day). */
    metricsIntervalSeconds: Type.Optional(
      Type.Integer({ minimum: METRICS_INTERVAL_LIMITS.minSeconds, maximum: METRICS_INTERVAL_LIMITS.maxSeconds }),
    ),
    /**
     * The device's data budget for a calendar month (UTC), in bytes over its link; absent: none. The supervisor
     * plans its downloads within it (supervisor/plan/data-budget.ts).
     */
    dataBudgetBytesPerMonth: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Config vars (fleet, overridden by device); injected into every service's environment. */
    env: StringMap,
    /**
     * Per service, what its environment gets beyond `env` from vars scoped to it (fleet's, then device's, with
     * the device's unscoped vars between them: device service > device > fleet service > fleet). Absent when no
     * var is scoped, so targets without any keep their exact form (and every container its config hash).
     */
    serviceEnv: Type.Optional(Type.Record(Type.String(), StringMap)),
  },
  { additionalProperties: false },
);
export type DeviceConfig = Static<typeof DeviceConfigSchema>;

export const ReleaseRefSchema = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    version: Type.String({ minLength: 1 }),
    /** The developer's signature (protocol/release-signature.ts); absent for a release pushed unsigned. */
    signature: Type.Optional(ReleaseSignatureSchema),
  },
  { additionalProperties: false },
);
export type ReleaseRef = Static<typeof ReleaseRefSchema>;

/** A host OS release the device's A/B slots should run: a signed RAUC bundle for the device type. */
export const HostOsReleaseSchema = Type.Object(
  {
    version: Type.String({ minLength: 1, maxLength: 64 }),
    /** sha256 of the whole bundle file, checked before RAUC sees it. */
    digest: Type.String({ pattern: '^sha256:[a-f0-9]{64}$' }),
    size: Type.Integer({ minimum: 1 }),
    /** Where to download the bundle: absolute, or relative to the API's base URL. */
    url: Type.String({ minLength: 1 }),
  },
  { additionalProperties: false },
);
export type HostOsRelease = Static<typeof HostOsReleaseSchema>;

/**
 * What makes a signed target fresh (protocol/signature.ts): a version that only goes up per device, when the API
 * issued it and until when it may be acted on. Optional in the schema so local-mode targets and targets persisted
 * before it still parse; a target from the API without it is refused by the device's freshness gate.
 */
export const TargetIssueSchema = Type.Object(
  {
    version: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    issuedAt: Type.String({ format: 'date-time', maxLength: 64 }),
    expiresAt: Type.String({ format: 'date-time', maxLength: 64 }),
    /**
     * The API's next target-signing key (base64 SPKI DER), announced while a rotation runs: a device that verified
     * this target with the key it trusts trusts this one too, and from the first target signed with it on, only it.
     */
    nextSigningKey: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9+/]+={0,2}$' })),
  },
  { additionalProperties: false },
);
export type TargetIssue = Static<typeof TargetIssueSchema>;

/** An OpenSSH public key line without comment: "ssh-ed25519 AAAA..." (bounded: it travels signed to every device). */
export const SshPublicKeySchema = Type.String({
  minLength: 20,
  maxLength: 1024,
  pattern: '^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/]+={0,3}$',
});

/**
 * The device's reverse SSH tunnel and who may come in through it (protocol/http/remote-access.ts): the jump host it
 * connects to (address, sshd port, host key, login user), the port there its forward may listen on (assigned by the
 * API, one per device), and the SSH certificate authority the device's own sshd trusts for operators' short-lived
 * certificates, bound to `principal`. Absent until the device registered its tunnel key with an API that has a jump
 * host configured, so the targets of every other device keep their exact form.
 */
export const TunnelTargetSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9][A-Za-z0-9.:-]*$' }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    user: Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z_][a-z0-9_-]*$' }),
    hostKey: SshPublicKeySchema,
    remotePort: Type.Integer({ minimum: 1, maximum: 65535 }),
    caPublicKey: SshPublicKeySchema,
    principal: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9-]+$' }),
  },
  { additionalProperties: false },
);
export type TunnelTarget = Static<typeof TunnelTargetSchema>;

export const TargetStateSchema = Type.Object(
  {
    schemaVersion: Type.Literal(1),
    device: Type.Object({ uuid: Type.String({ minLength: 1 }), name: Type.String() }, { additionalProperties: false }),
    fleet: Type.Object({ name: Name }, { additionalProperties: false }),
    /** Null when the fleet has no release yet: the device then runs nothing. */
    release: Type.Union([ReleaseRefSchema, Type.Null()]),
    services: Type.Array(ServiceSpecSchema),
    /** Named volumes the release declares; they are created if missing and never removed implicitly. */
    volumes: Type.Array(Name),
    /** Networks the release declares, by their compose name. */
    networks: Type.Array(Name),
    /** Only the declared networks and volumes that set more than their name; absent when none does. */
    networkDefinitions: Type.Optional(Type.Record(Type.String(), NetworkDefinitionSchema)),
    volumeDefinitions: Type.Optional(Type.Record(Type.String(), VolumeDefinitionSchema)),
    config: DeviceConfigSchema,
    /** The host OS the device should run; absent: leave the host OS alone. */
    hostOs: Type.Optional(HostOsReleaseSchema),
    /** Version, issue time and expiry, signed with the rest; absent only in local mode and old persisted targets. */
    issued: Type.Optional(TargetIssueSchema),
    /**
     * The release keys the fleet trusts, as signed by its admins (protocol/release-signature.ts); absent while it has
     * none. A device that pins release keys takes it only when a key it trusts already signed it.
     */
    releaseKeys: Type.Optional(SignedKeySetSchema),
    /** The reverse SSH tunnel's settings (TunnelTargetSchema); absent while the device has none. */
    tunnel: Type.Optional(TunnelTargetSchema),
  },
  { additionalProperties: false },
);
export type TargetState = Static<typeof TargetStateSchema>;

export const DEFAULT_DEVICE_CONFIG: DeviceConfig = {
  pollIntervalSeconds: 60,
  updateWindow: null,
  bandwidthCapBytesPerSecond: null,
  env: {},
};

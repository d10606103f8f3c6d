// Names and labels of the engine objects Skiff owns. Everything the supervisor manages is found again through
// these labels, so the engine itself is the record of what runs: there is no journal that could drift from it.

export const LABELS = {
  managed: 'io.skiff.managed',
  fleet: 'io.skiff.fleet',
  service: 'io.skiff.service',
  /** The release whose target created the container; informational, never used for change detection. */
  release: 'io.skiff.release',
  /** Hash of the container's full desired create config: the only basis of "is this container up to date". */
  configHash: 'io.skiff.config-hash',
  network: 'io.skiff.network',
  /** Containers whose recreation recreates this one (compose depends_on with restart: true). */
  restartWith: 'io.skiff.restart-with',
  volume: 'io.skiff.volume',
  /** Hash of the release files and state folders the container mounts. */
  files: 'io.skiff.files',
} as const;

/** Engine label filter selecting every object the supervisor manages. */
export const MANAGED_FILTER = `${LABELS.managed}=true`;

const PREFIX = 'skiff_';

/** Compose's implicit network: every service without explicit networks or a network mode joins it. */
export const DEFAULT_NETWORK = 'default';

export function networkName(composeName: string): string {
  return `${PREFIX}${composeName}`;
}

export function volumeName(composeName: string): string {
  return `${PREFIX}${composeName}`;
}

/**
 * The engine's name for a network or volume of the release: the file's own `name` when it sets one, the compose name
 * itself for an external one without (as compose: it was made outside, under that name), else Skiff's prefixed name.
 */
export function engineName(
  composeName: string,
  definition: { name?: string; external?: boolean } | undefined,
  prefixed: (n: string) => string,
): string {
  if (definition?.name !== undefined) return definition.name;
  return definition?.external === true ? composeName : prefixed(composeName);
}

/**
 * An anonymous volume of a service gets a name of its own on a device, from the service and the container path, so
 * an update of the service finds its data again (compose carries anonymous volumes over to a recreated container).
 */
export function anonymousVolumeName(service: string, targetDigest: string): string {
  return `${PREFIX}${service}_anon_${targetDigest.slice(0, 12)}`;
}

/**
 * The hash in the name makes creation idempotent: a retried create of the same config hits the same name, and a
 * changed config never collides with the container it replaces.
 */
export function containerName(service: string, configHash: string): string {
  return `${PREFIX}${service}_${configHash.slice(0, 12)}`;
}
